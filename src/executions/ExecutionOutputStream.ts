import { type Execution, ExecutionStatus } from "../../entities/index.js";
import { AppError } from "../errors.js";
import type { EventBus } from "../pubsub.js";
import type { Scope } from "../scope.js";
import { type ExecutionUpdate, listenToExecutionAndOutput } from "./ExecutionEvents.js";
import { type ExecutionOutputEvent, isOutputMessage, type OutputReplay } from "./ExecutionOutput.js";
import type { ExecutionService } from "./ExecutionService.js";

/**
 * What executionOutput sends: the output events of the attempt running (ExecutionOutput.ts), a
 * TRANSITION for each transition that does not end the execution (a new attempt starts over), then
 * one FINAL with the outputs or the error, after which the subscription completes. OVERFLOW is never
 * sent as such: the resolver turns it into the SLOW_SUBSCRIBER error.
 */
export type OutputStreamItem =
  | ExecutionOutputEvent
  | { kind: "TRANSITION" | "FINAL"; executionId: string; attempt: number; seq: number; status: ExecutionStatus; message: string; execution: Execution }
  | { kind: "OVERFLOW"; executionId: string };

/** Events a subscriber may leave unread (queued here) before it is dropped, however small. */
export const MAX_UNREAD_EVENTS = 10_000;

const TERMINAL: readonly ExecutionStatus[] = [ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED];

/** executionOutput's side of the server: subscribers following executions' output. */
export class ExecutionOutputService {
  /** `bufferBytes` (SUBSCRIBER_BUFFER_BYTES): what one subscriber may leave unread, queued here and in its transport. */
  constructor(
    private readonly events: EventBus,
    private readonly replay: OutputReplay,
    private readonly executions: Pick<ExecutionService, "require">,
    readonly bufferBytes: number,
  ) {}

  follow(scope: Scope, id: string, unsent?: () => number): Promise<AsyncIterableIterator<OutputStreamItem>> {
    return followExecutionOutput(this.events, this.replay, this.executions, this.bufferBytes, scope, id, unsent);
  }

  /** What a subscriber dropped for reading too slowly is told. */
  slowSubscriber(): AppError {
    return AppError.slowSubscriber(`${this.bufferBytes} bytes (or ${MAX_UNREAD_EVENTS} events) of output`, "the execution and its outputs are kept");
  }
}

/**
 * One subscriber's view of one execution's output. Subscribed to the bus first, then the execution
 * and the replay of its running attempt are read, so nothing falls in between; an event seen twice
 * (in the replay and live) is sent once, by (attempt, seq). The bus is read as fast as it delivers
 * and queued here: a subscriber that reads slower than the run writes never slows the run; once
 * MAX_UNREAD_EVENTS are queued, or its transport holds MAX_UNSENT_BYTES unsent (`unsent`), it gets
 * OVERFLOW and the stream ends.
 */
async function followExecutionOutput(
  events: EventBus,
  replay: OutputReplay,
  executions: Pick<ExecutionService, "require">,
  bufferBytes: number,
  scope: Scope,
  id: string,
  unsent: () => number = () => 0,
): Promise<AsyncIterableIterator<OutputStreamItem>> {
  const source = listenToExecutionAndOutput(events, id);
  let current: Execution;
  let replayed: ExecutionOutputEvent[];
  try {
    current = await executions.require(scope, id, "id");
    replayed = current.status === ExecutionStatus.RUNNING ? (await replay.read(id)).filter((e) => e.attempt === current.attempt) : [];
  } catch (error) {
    await source.return?.();
    throw error;
  }
  const queue: OutputStreamItem[] = [];
  let queuedBytes = 0;
  let attempt = current.attempt;
  let seq = 0;
  let transitions = current.transitions;
  let ended = false;
  let waiting: ((item: IteratorResult<OutputStreamItem>) => void) | null = null;

  const deliver = (item: OutputStreamItem | null) => {
    if (ended) return;
    if (item === null || item.kind === "FINAL" || item.kind === "OVERFLOW") ended = true;
    if (item === null) {
      if (waiting) (waiting({ done: true, value: undefined }), (waiting = null));
      void source.return?.();
      return;
    }
    if (waiting) (waiting({ done: false, value: item }), (waiting = null));
    else (queue.push(item), (queuedBytes += sizeOf(item)));
    if (ended) void source.return?.();
    else if (queue.length > MAX_UNREAD_EVENTS || queuedBytes + unsent() > bufferBytes) {
      queue.length = 0;
      queue.push({ kind: "OVERFLOW", executionId: id });
      ended = true;
      void source.return?.();
    }
  };
  const output = (event: ExecutionOutputEvent) => {
    // Only what follows what was sent: the attempt's next events, or a later attempt's.
    if (event.attempt < attempt || (event.attempt === attempt && event.seq <= seq)) return;
    attempt = event.attempt;
    seq = event.seq;
    deliver(event);
  };
  const transition = (update: ExecutionUpdate) => {
    if (update.tenantId !== current.tenantId || update.event.seq <= transitions) return;
    transitions = update.event.seq;
    const execution = update.execution;
    if (execution.attempt > attempt) (attempt = execution.attempt), (seq = 0);
    const final = TERMINAL.includes(execution.status);
    // Numbered as the last output event before it: the output's own numbering has no gaps.
    deliver({ kind: final ? "FINAL" : "TRANSITION", executionId: id, attempt: execution.attempt, seq, status: execution.status, message: update.event.reason, execution });
  };

  if (TERMINAL.includes(current.status)) {
    transition({ tenantId: current.tenantId, programId: current.programId, execution: current, event: { seq: current.transitions + 1, reason: `the execution is ${current.status}` } as ExecutionUpdate["event"] });
  } else {
    for (const event of replayed) output(event);
    void (async () => {
      try {
        for (;;) {
          const next = await source.next();
          if (next.done || ended) return deliver(null);
          const message = next.value;
          if (isOutputMessage(message)) {
            if (message.tenantId === current.tenantId) for (const event of message.output) output(event);
          } else {
            transition(message);
          }
        }
      } catch {
        deliver(null);
      }
    })();
  }

  const iterator: AsyncIterableIterator<OutputStreamItem> = {
    next() {
      const item = queue.shift();
      if (item) queuedBytes -= sizeOf(item);
      if (item) return Promise.resolve({ done: false, value: item });
      if (ended) return Promise.resolve({ done: true, value: undefined });
      return new Promise((resolve) => (waiting = resolve));
    },
    async return() {
      queue.length = 0;
      deliver(null);
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return iterator;
}

/** About what an item weighs once sent: its text, or (small) the rest. */
function sizeOf(item: OutputStreamItem): number {
  return item.kind === "DELTA" ? (item.text?.length ?? 0) + 200 : item.kind === "STATUS" && item.outputs ? JSON.stringify(item.outputs).length + 300 : 300;
}
