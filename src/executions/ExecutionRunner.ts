import { Execution, ExecutionStatus, LanguageModel, ProgramVersion, type ExecutionError } from "../../entities/index.js";
import type { DspyAdapter } from "../adapters/DspyAdapter.js";
import type { Database } from "../db/Database.js";
import { findRow } from "../db/findRow.js";
import { AppError } from "../errors.js";
import type { EventBus } from "../pubsub.js";
import { CancelWatch } from "../state/CancelWatch.js";
import { recordedError } from "../state/recordedError.js";
import { EXECUTION_UPDATED, type ExecutionUpdate } from "./ExecutionEvents.js";
import { type ExecutionStateMachine, TERMINAL } from "./ExecutionStateMachine.js";

export interface RunnerSettings {
  /** Deadline of one attempt, from the worker's point of view. */
  deadlineMs: number;
  /** Delay before the first retry; doubles per attempt up to `retryMaxMs`. */
  retryInitialMs: number;
  retryMaxMs: number;
  /** How often a running attempt reads its status (a cancel made on another instance is not on this bus). */
  cancelPollMs: number;
}

/** What the job should do next: nothing, or run again after a delay. */
export type RunOutcome = { done: true } | { done: false; retryInMs: number };

const DONE: RunOutcome = { done: true };
const { PENDING, RUNNING, COMPLETED, FAILED, CANCELLED } = ExecutionStatus;

/**
 * One attempt of one execution, as the job handler runs it: PENDING → RUNNING, the adapter, then
 * COMPLETED, FAILED, or back to PENDING for a retry. Every step goes through the state machine, so
 * a cancelled execution's result is discarded and an attempt that lost its job lock cannot complete
 * the execution twice. An execution cancelled while it runs here is also aborted on its worker,
 * which stops before its next module or LM call: at once when the cancel was made on this instance
 * (the bus), within `cancelPollMs` when it was made on another (the database).
 */
export class ExecutionRunner {
  private readonly cancels: CancelWatch<ExecutionUpdate>;

  constructor(
    private readonly database: Database,
    private readonly stateMachine: ExecutionStateMachine,
    private readonly adapter: DspyAdapter,
    events: EventBus,
    private readonly settings: RunnerSettings,
  ) {
    this.cancels = new CancelWatch(events, EXECUTION_UPDATED, (u) => (u.event.to === CANCELLED ? u.execution.id : null));
  }

  /** Stops watching the bus (the server's shutdown; running attempts drain with the worker pool). */
  async close(): Promise<void> {
    await this.cancels.close(false);
  }

  async run(executionId: string, tenantId: string): Promise<RunOutcome> {
    let execution = await findRow(this.database.manager, Execution, { id: executionId, tenantId });
    if (!execution || TERMINAL.includes(execution.status)) return DONE;
    if (execution.status === RUNNING) {
      // Its job lock expired: the instance running this attempt stopped before it finished.
      execution = await this.stateMachine.transition({ from: execution, to: PENDING, reason: `attempt ${execution.attempt} was interrupted (its instance stopped); requeued` });
      if (!execution) return DONE;
    }
    if (execution.attempt >= execution.maxAttempts) {
      const error = failure("ATTEMPTS_EXHAUSTED", "scheduler", `all ${execution.maxAttempts} attempts were used`, false);
      await this.stateMachine.transition({ from: execution, to: FAILED, reason: error.message, changes: { error, finishedAt: new Date() } });
      return DONE;
    }
    const running = await this.stateMachine.transition({
      from: execution,
      to: RUNNING,
      reason: `attempt ${execution.attempt + 1} of ${execution.maxAttempts} started`,
      changes: { attempt: execution.attempt + 1, startedAt: new Date() },
    });
    if (!running) return DONE; // cancelled in the meantime
    return this.attempt(running);
  }

  private readonly versions = new Map<string, ProgramVersion>();

  private async version(execution: Execution): Promise<ProgramVersion | null> {
    const key = `${execution.tenantId}/${execution.programVersionId}`;
    const kept = this.versions.get(key);
    if (kept) return kept;
    const version = await findRow(this.database.manager, ProgramVersion, { id: execution.programVersionId, tenantId: execution.tenantId });
    if (version) {
      if (this.versions.size >= VERSIONS_KEPT) this.versions.delete(this.versions.keys().next().value as string);
      this.versions.set(key, version);
    }
    return version;
  }

  private async attempt(running: Execution): Promise<RunOutcome> {
    const controller = this.cancels.start(running.id);
    const poll = setInterval(() => void this.abortIfCancelled(running, controller), this.settings.cancelPollMs);
    try {
      return await this.attemptWith(running, controller.signal);
    } finally {
      clearInterval(poll);
      this.cancels.finish(running.id);
    }
  }

  private async abortIfCancelled(running: Execution, controller: AbortController): Promise<void> {
    if (controller.signal.aborted) return;
    const now = await this.database.manager
      .findOne(Execution, { select: { id: true, status: true }, where: { id: running.id, tenantId: running.tenantId } })
      .catch(() => null); // the database is busy or gone: the next look, or the attempt's end, will tell
    if (now?.status === CANCELLED) controller.abort();
  }

  private async attemptWith(running: Execution, signal: AbortSignal): Promise<RunOutcome> {
    let error: ExecutionError;
    try {
      const [version, lm] = await Promise.all([
        this.version(running),
        findRow(this.database.manager, LanguageModel, { id: running.languageModelId, tenantId: running.tenantId }),
      ]);
      if (!version) throw new AppError("NOT_FOUND", `program version '${running.programVersionId}' no longer exists`, { layer: "storage" });
      if (!lm) throw new AppError("NOT_FOUND", `language model '${running.languageModelId}' no longer exists`, { layer: "storage" });
      const result = await this.adapter.execute({
        program: { versionId: version.id, definition: version.definition, compiledState: version.compiledState },
        lm,
        inputs: running.inputs,
        deadlineMs: this.settings.deadlineMs,
        signal,
      });
      // Null when it was cancelled while running: the result is discarded.
      await this.stateMachine.transition({
        from: running,
        to: COMPLETED,
        reason: `attempt ${running.attempt} completed`,
        changes: { outputs: result.outputs, trace: result.trace, usage: result.usage, error: null, finishedAt: new Date() },
      });
      return DONE;
    } catch (cause) {
      if (signal.aborted) return DONE; // cancelled: the execution already says so
      error = recordedError(cause, "execution");
    }
    if (error.retriable && running.attempt < running.maxAttempts) {
      const retryInMs = Math.min(this.settings.retryInitialMs * 2 ** (running.attempt - 1), this.settings.retryMaxMs);
      const requeued = await this.stateMachine.transition({
        from: running,
        to: PENDING,
        reason: `attempt ${running.attempt} failed (${error.code}: ${error.message}); retrying in ${retryInMs} ms`,
        changes: { error },
      });
      return requeued ? { done: false, retryInMs } : DONE;
    }
    await this.stateMachine.transition({
      from: running,
      to: FAILED,
      reason: `attempt ${running.attempt} failed (${error.code}: ${error.message})`,
      changes: { error, finishedAt: new Date() },
    });
    return DONE;
  }
}

/** Versions never change once written, so each is read once (per instance, a bounded number of them). */
const VERSIONS_KEPT = 256;

function failure(code: string, layer: string, message: string, retriable: boolean, details: Record<string, unknown> | null = null): ExecutionError {
  return { code, layer, message, retriable, details };
}
