import { useEffect, useState } from "preact/hooks";
import { ErrorBox } from "../components/ErrorBox";
import { Progress } from "../components/Progress";
import { StatusBadge, UNFINISHED } from "../components/StatusBadge";
import { formatScore, formatSpan, formatTime } from "../format";
import { CancelEvaluationDocument, type EvaluationRowFragment, EvaluationUpdatedDocument, EvaluationsDocument } from "../generated/graphql";
import { useMutation } from "../hooks/useMutation";
import { usePagedList } from "../hooks/usePagedList";
import { useSubscription } from "../hooks/useSubscription";

/** Evaluations, newest first; each unfinished one followed live (evaluationUpdated) until it ends. */
export function EvaluationsPage() {
  const list = usePagedList(EvaluationsDocument, (data) => data.evaluations, { maxPages: 4, refreshMs: 5_000 });
  const nodes = list.nodes ? [...list.nodes].reverse() : undefined;
  return (
    <section>
      <div class="page-head">
        <h1>Evaluations</h1>
        <button type="button" class="secondary" onClick={list.reload}>
          Refresh
        </button>
      </div>
      <ErrorBox error={list.error} />
      {nodes === undefined ? (
        list.error ? null : <p class="muted">Loading…</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Status</th>
              <th>Program</th>
              <th>Dataset</th>
              <th>Metric</th>
              <th>Progress</th>
              <th>Score</th>
              <th>Queued</th>
              <th>Duration</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {nodes.map((row) => (
              <EvaluationRow key={row.id} initial={row} />
            ))}
          </tbody>
        </table>
      )}
      {nodes?.length === 0 ? <p class="muted">No evaluations yet: start one with the evaluateProgram mutation.</p> : null}
      {nodes && list.totalCount > nodes.length ? <p class="muted">The oldest {nodes.length} of {list.totalCount} (the API lists oldest first).</p> : null}
    </section>
  );
}

function EvaluationRow({ initial }: { initial: EvaluationRowFragment }) {
  const [row, setRow] = useState(initial);
  // A newer copy from the list's refresh replaces this one; an older one does not.
  useEffect(() => setRow((known) => (known.version >= initial.version ? known : initial)), [initial]);
  const live = UNFINISHED.has(row.status);
  const updates = useSubscription(EvaluationUpdatedDocument, live ? { id: row.id } : null, (data) =>
    setRow((known) => (known.version > data.evaluationUpdated.version ? known : data.evaluationUpdated)),
  );
  const cancel = useMutation(CancelEvaluationDocument);
  const metric = typeof row.metric.kind === "string" ? row.metric.kind : "";
  return (
    <tr data-testid="evaluation-row">
      <td>
        <StatusBadge status={row.status} />
      </td>
      <td>
        {row.program?.name ?? "—"} {row.programVersion ? `v${row.programVersion.number}` : ""}
      </td>
      <td>
        {row.dataset?.name ?? "—"} <span class="muted">{row.split.toLowerCase()}</span>
      </td>
      <td>{metric}</td>
      <td>
        <Progress done={row.progress.done} total={row.progress.total} />
      </td>
      <td>{formatScore(row.score)}</td>
      <td>{formatTime(row.queuedAt)}</td>
      <td>{live ? "running…" : formatSpan(row.startedAt, row.finishedAt)}</td>
      <td>
        {live ? (
          <button type="button" class="secondary" disabled={cancel.running} onClick={async () => {
            const done = await cancel.run({ id: row.id });
            if (done) setRow(done.cancelEvaluation);
          }}>
            Cancel
          </button>
        ) : null}
        <ErrorBox error={row.error ?? cancel.error ?? updates.error} />
      </td>
    </tr>
  );
}
