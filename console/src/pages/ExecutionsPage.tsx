import { useState } from "preact/hooks";
import { ErrorBox } from "../components/ErrorBox";
import { RunForm } from "../components/RunForm";
import { STATUSES, StatusBadge } from "../components/StatusBadge";
import { formatSpan, formatTime, plural, shortId } from "../format";
import { type ExecutionStatus, ProgramsDocument } from "../generated/graphql";
import { MAX_FOLLOWED_PROGRAMS, useLiveExecutions } from "../hooks/useLiveExecutions";
import { useQuery } from "../hooks/useQuery";
import { type Route, href, navigate } from "../router";
import { ExecutionView } from "./ExecutionView";

const isStatus = (value: string | null): value is ExecutionStatus => (STATUSES as readonly string[]).includes(value ?? "");

/**
 * The live executions table, filtered by program and status (kept in the address), with the
 * selected execution beside it and a form to start one.
 */
export function ExecutionsPage({ route, selectedId }: { route: Route; selectedId: string | undefined }) {
  const programId = route.query.get("program") || null;
  const statusParam = route.query.get("status");
  const status = isStatus(statusParam) ? statusParam : null;
  const programs = useQuery(ProgramsDocument, { after: null });
  const programList = programs.data?.programs.edges.map(({ node }) => ({ id: node.id, name: node.name })) ?? [];
  const followed = programId ? [programId] : programList.map((p) => p.id);
  const live = useLiveExecutions({ programId, status }, followed);
  const [showRun, setShowRun] = useState(false);
  // Beside an open execution the table keeps the columns that tell runs apart.
  const wide = !selectedId;
  const go = (id: string | undefined, query: { program?: string | null; status?: string | null }) =>
    navigate(href(id ? ["executions", id] : ["executions"], { program: programId, status, ...query }));

  return (
    <div class={selectedId ? "split" : ""}>
      <section>
        <div class="page-head">
          <h1>Executions</h1>
          <label>
            Program
            <select name="program" value={programId ?? ""} onChange={(e) => go(selectedId, { program: e.currentTarget.value || null })}>
              <option value="">all</option>
              {programList.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            Status
            <select name="status" value={status ?? ""} onChange={(e) => go(selectedId, { status: e.currentTarget.value || null })}>
              <option value="">all</option>
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <button type="button" onClick={() => setShowRun(!showRun)} aria-expanded={showRun}>
            {showRun ? "Hide the form" : "Run a program"}
          </button>
          <span class="live-dot" title="updates as executions change">live</span>
        </div>
        {showRun ? (
          <RunForm
            programs={programList}
            programId={programId ?? undefined}
            onStarted={(execution) => {
              live.upsert(execution);
              go(execution.id, {});
            }}
          />
        ) : null}
        <ErrorBox error={programs.error ?? live.error} />
        {!programId && programList.length > MAX_FOLLOWED_PROGRAMS ? (
          <p class="muted">Following the first {MAX_FOLLOWED_PROGRAMS} programs live: choose a program to follow any other.</p>
        ) : null}
        <div class="table-scroll">
          <table class="executions" data-testid="executions-table">
            <thead>
              <tr>
                <th>Status</th>
                <th>Program</th>
                <th>Queued</th>
                <th>Duration</th>
                <th>Tokens</th>
                <th>Error</th>
                {wide ? (
                  <>
                    <th>Attempt</th>
                    <th>Adapter</th>
                    <th>Id</th>
                  </>
                ) : null}
              </tr>
            </thead>
            <tbody>
              {live.rows.map((row) => (
                <tr
                  key={row.id}
                  data-testid="execution-row"
                  data-execution-id={row.id}
                  class={row.id === selectedId ? "selected clickable" : "clickable"}
                  onClick={() => go(row.id, {})}
                >
                  <td>
                    <StatusBadge status={row.status} />
                  </td>
                  <td>
                    {row.program?.name ?? "—"} <span class="muted">{row.programVersion ? `v${row.programVersion.number}` : ""}</span>
                  </td>
                  <td class="nowrap">{formatTime(row.queuedAt)}</td>
                  <td class="nowrap">{row.status === "RUNNING" ? "running…" : formatSpan(row.startedAt, row.finishedAt)}</td>
                  <td class="nowrap">{row.usage ? `${row.usage.totalTokens} · ${plural(row.usage.lmCalls, "call")}` : "—"}</td>
                  <td>{row.error ? `${row.error.code} (${row.error.layer})` : ""}</td>
                  {wide ? (
                    <>
                      <td>
                        {row.attempt}/{row.maxAttempts}
                      </td>
                      <td>{row.adapter ?? "—"}</td>
                      <td>
                        <code title={row.id}>{shortId(row.id)}</code>
                      </td>
                    </>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {live.totalCount === 0 && live.rows.length === 0 ? <p class="muted">No executions match.</p> : null}
        {live.truncated ? (
          <p class="muted">
            {live.totalCount} match. The API lists executions oldest first: the table holds the oldest 500 and every one that changes from now on. Narrow the filter to see the others.
          </p>
        ) : null}
      </section>
      {selectedId ? <ExecutionView key={selectedId} id={selectedId} onClose={() => go(undefined, {})} /> : null}
    </div>
  );
}
