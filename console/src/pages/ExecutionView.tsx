import { useEffect, useState } from "preact/hooks";
import { ErrorBox } from "../components/ErrorBox";
import { Json } from "../components/Json";
import { OutputStream } from "../components/OutputStream";
import { StatusBadge, UNFINISHED } from "../components/StatusBadge";
import { Trace } from "../components/Trace";
import { formatSpan, formatTime, formatUsd, plural } from "../format";
import { CancelExecutionDocument, type ExecutionDetailFragment, ExecutionDocument, ExecutionUpdatedDocument, RetryExecutionDocument } from "../generated/graphql";
import { useExecutionOutput } from "../hooks/useExecutionOutput";
import { useMutation } from "../hooks/useMutation";
import { useQuery } from "../hooks/useQuery";
import { useSubscription } from "../hooks/useSubscription";

/**
 * One execution, live: its state and transitions (executionUpdated), its output as it is written
 * (executionOutput), and once an attempt ends, the trace: steps, LM calls, tools, errors.
 * Both subscriptions complete when the execution ends; a retry starts them again (a new panel).
 */
export function ExecutionView({ id, onClose }: { id: string; onClose(): void }) {
  const [generation, setGeneration] = useState(0);
  return <ExecutionPanel key={generation} id={id} onClose={onClose} onRetried={() => setGeneration((n) => n + 1)} />;
}

function ExecutionPanel({ id, onClose, onRetried }: { id: string; onClose(): void; onRetried(): void }) {
  const query = useQuery(ExecutionDocument, { id });
  const [execution, setExecution] = useState<ExecutionDetailFragment | null | undefined>();
  // The higher lock version wins: the query's answer and the subscription's may arrive in any order.
  const keepNewer = (incoming: ExecutionDetailFragment | null) =>
    setExecution((known) => (known && incoming && known.version > incoming.version ? known : incoming));
  useEffect(() => {
    if (query.data) keepNewer(query.data.execution);
  }, [query.data]);
  const updates = useSubscription(ExecutionUpdatedDocument, { id }, (data) => keepNewer(data.executionUpdated));
  const { output, error: outputError } = useExecutionOutput(id);
  const cancel = useMutation(CancelExecutionDocument);
  const retry = useMutation(RetryExecutionDocument);

  if (execution === undefined) {
    return (
      <aside class="detail" data-testid="execution-view">
        <ErrorBox error={query.error ?? updates.error} />
        {query.error || updates.error ? null : <p class="muted">Loading…</p>}
      </aside>
    );
  }
  if (execution === null) {
    return (
      <aside class="detail" data-testid="execution-view">
        <p class="muted">No such execution (or not one this credential may see).</p>
      </aside>
    );
  }
  const running = UNFINISHED.has(execution.status);
  return (
    <aside class="detail" data-testid="execution-view" data-execution-id={execution.id}>
      <div class="page-head">
        <h2>
          Execution <code>{execution.id}</code>
        </h2>
        <StatusBadge status={execution.status} />
        <button type="button" class="link" onClick={onClose} aria-label="Close">
          ✕
        </button>
      </div>
      <dl class="facts">
        <dt>Program</dt>
        <dd>
          {execution.program?.name ?? "—"} {execution.programVersion ? `v${execution.programVersion.number}` : ""} {execution.label ? `(label ${execution.label})` : ""}
        </dd>
        <dt>Language model</dt>
        <dd>{execution.languageModel ? `${execution.languageModel.name} (${execution.languageModel.model})` : "—"}</dd>
        <dt>Attempt</dt>
        <dd>
          {execution.attempt} of {execution.maxAttempts} · adapter {execution.adapter ?? "—"}
        </dd>
        <dt>Queued</dt>
        <dd>
          {formatTime(execution.queuedAt)} · ran {running ? "…" : formatSpan(execution.startedAt, execution.finishedAt)}
        </dd>
        <dt>Usage</dt>
        <dd>
          {execution.usage ? `${plural(execution.usage.lmCalls, "LM call")} · ${execution.usage.promptTokens} + ${execution.usage.completionTokens} = ${execution.usage.totalTokens} tokens` : "—"} · cost {formatUsd(execution.cost)}
        </dd>
        {execution.traceId ? (
          <>
            <dt>OpenTelemetry trace</dt>
            <dd>
              <code>{execution.traceId}</code>
            </dd>
          </>
        ) : null}
      </dl>
      <div class="actions">
        {running ? (
          <button type="button" class="secondary" disabled={cancel.running} onClick={() => void cancel.run({ id })}>
            Cancel
          </button>
        ) : null}
        {execution.status === "FAILED" ? (
          <button type="button" class="secondary" disabled={retry.running} onClick={async () => (await retry.run({ id })) && onRetried()}>
            Retry
          </button>
        ) : null}
      </div>
      <ErrorBox error={cancel.error ?? retry.error} title="Refused" />
      <ErrorBox error={execution.error} title="The execution failed" />
      <h3>Inputs</h3>
      <Json value={execution.inputs} />
      <h3>Output {running ? <span class="live-dot">streaming</span> : null}</h3>
      <OutputStream output={output} running={running} />
      <ErrorBox error={outputError} title="Output stream" />
      {execution.outputs ? <Json value={execution.outputs} folded={output.fields.length > 0} label="outputs as returned (JSON)" /> : null}
      <h3>Trace</h3>
      <Trace trace={execution.trace} />
      <h3>Transitions</h3>
      <table class="events" data-testid="events">
        <tbody>
          {execution.events.map((event) => (
            <tr key={event.seq}>
              <td>{event.seq}</td>
              <td class="nowrap">
                {event.from ?? "—"} → <StatusBadge status={event.to} />
              </td>
              <td class="nowrap">{formatTime(event.at)}</td>
              <td class="nowrap">attempt {event.attempt}</td>
              <td class="muted">{event.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </aside>
  );
}
