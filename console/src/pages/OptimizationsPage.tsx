import { useEffect, useState } from "preact/hooks";
import { ErrorBox } from "../components/ErrorBox";
import { Progress } from "../components/Progress";
import { StatusBadge, UNFINISHED } from "../components/StatusBadge";
import { formatScore, formatSpan, formatTime } from "../format";
import { CancelOptimizationDocument, type OptimizationRowFragment, OptimizationUpdatedDocument, OptimizationsDocument, PromoteVersionDocument } from "../generated/graphql";
import { useMutation } from "../hooks/useMutation";
import { usePagedList } from "../hooks/usePagedList";
import { useSubscription } from "../hooks/useSubscription";
import { href } from "../router";

/**
 * Optimizations, newest first; each unfinished one followed live (optimizationUpdated: phase,
 * trials, best score so far). A finished one's new version can be promoted from here.
 */
export function OptimizationsPage() {
  const list = usePagedList(OptimizationsDocument, (data) => data.optimizations, { maxPages: 4, refreshMs: 5_000 });
  const nodes = list.nodes ? [...list.nodes].reverse() : undefined;
  return (
    <section>
      <div class="page-head">
        <h1>Optimizations</h1>
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
              <th>Optimizer</th>
              <th>Dataset</th>
              <th>Progress</th>
              <th>Score</th>
              <th>New version</th>
              <th>Queued</th>
              <th>Duration</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {nodes.map((row) => (
              <OptimizationRow key={row.id} initial={row} />
            ))}
          </tbody>
        </table>
      )}
      {nodes?.length === 0 ? <p class="muted">No optimizations yet: start one with the optimizeProgram mutation.</p> : null}
      {nodes && list.totalCount > nodes.length ? <p class="muted">The oldest {nodes.length} of {list.totalCount} (the API lists oldest first).</p> : null}
    </section>
  );
}

function OptimizationRow({ initial }: { initial: OptimizationRowFragment }) {
  const [row, setRow] = useState(initial);
  // A newer copy from the list's refresh replaces this one; an older one does not.
  useEffect(() => setRow((known) => (known.version >= initial.version ? known : initial)), [initial]);
  const [promotedId, setPromotedId] = useState<string | undefined>();
  const live = UNFINISHED.has(row.status);
  const updates = useSubscription(OptimizationUpdatedDocument, live ? { id: row.id } : null, (data) =>
    setRow((known) => (known.version > data.optimizationUpdated.version ? known : data.optimizationUpdated)),
  );
  const cancel = useMutation(CancelOptimizationDocument);
  const promote = useMutation(PromoteVersionDocument);
  const { progress, resultVersion } = row;
  const isCurrent = resultVersion && (promotedId ?? row.program?.currentVersion?.id) === resultVersion.id;
  const figures = [progress.phase, `${progress.trials} trials`, `${progress.metricCalls} metric calls`, progress.bestScore === null ? null : `best ${formatScore(progress.bestScore)}`].filter(Boolean).join(" · ");
  return (
    <tr data-testid="optimization-row">
      <td>
        <StatusBadge status={row.status} />
      </td>
      <td>
        {row.program ? <a href={href(["programs", row.program.id])}>{row.program.name}</a> : "—"} {row.programVersion ? `v${row.programVersion.number}` : ""}
      </td>
      <td>{row.optimizer}</td>
      <td>{row.dataset?.name ?? "—"}</td>
      <td>
        <Progress done={progress.trials} total={null} label={figures} />
      </td>
      <td>{formatScore(row.score)}</td>
      <td>
        {resultVersion ? `v${resultVersion.number}` : "—"} {isCurrent ? <span class="badge">current</span> : null}
      </td>
      <td>{formatTime(row.queuedAt)}</td>
      <td>{live ? "running…" : formatSpan(row.startedAt, row.finishedAt)}</td>
      <td>
        {live ? (
          <button type="button" class="secondary" disabled={cancel.running} onClick={async () => {
            const done = await cancel.run({ id: row.id });
            if (done) setRow(done.cancelOptimization);
          }}>
            Cancel
          </button>
        ) : null}
        {resultVersion && !isCurrent ? (
          <button type="button" class="secondary" disabled={promote.running} onClick={async () => {
            const done = await promote.run({ versionId: resultVersion.id });
            if (done) setPromotedId(done.promoteProgramVersion.currentVersion?.id);
          }}>
            Promote v{resultVersion.number}
          </button>
        ) : null}
        <ErrorBox error={row.error ?? cancel.error ?? promote.error ?? updates.error} />
      </td>
    </tr>
  );
}
