import type { Redis } from "ioredis";
import type { OutputChunk, OutputStatusEvent } from "../adapters/DspyAdapter.js";
import type { EventBus } from "../pubsub.js";
import { EXECUTION_UPDATED } from "./ExecutionEvents.js";

/**
 * One piece of a running attempt's output as subscribers get it (executionOutput): the adapter's
 * chunks (src/adapters/DspyAdapter.ts OutputChunk), numbered 1, 2, 3… per attempt. Deltas of one
 * field that came within one flush are one event.
 */
export interface ExecutionOutputEvent {
  executionId: string;
  attempt: number;
  seq: number;
  kind: "DELTA" | "STATUS";
  step: string;
  module: string;
  field?: string;
  text?: string;
  event?: OutputStatusEvent;
  message?: string;
  outputs?: Record<string, unknown>;
}

/**
 * What the runner publishes, on the execution's own topic (the one its transitions go to), so that a
 * subscriber sees an attempt's output and its end in the order they happened, on one instance or
 * across Redis alike (one publisher connection, one subscriber connection).
 */
export interface ExecutionOutputMessage {
  tenantId: string;
  output: ExecutionOutputEvent[];
}

export function isOutputMessage(message: unknown): message is ExecutionOutputMessage {
  return typeof message === "object" && message !== null && Array.isArray((message as ExecutionOutputMessage).output);
}

/** How often a running attempt's output is published, at most: deltas in between travel as one. */
export const OUTPUT_FLUSH_MS = 25;
/** Output kept per execution for subscribers who arrive while it runs (beyond it, they get it live only). */
export const MAX_REPLAY_BYTES = 1024 * 1024;
/** A replay whose attempt ended without its runner clearing it (the instance died) is gone after this. */
const REPLAY_TTL_MS = 15 * 60_000;

/**
 * The output of the attempts running now, for subscribers who arrive after they started. In memory
 * (one instance: the bus is in-process too), or in Redis next to the bus. `append` is not awaited:
 * it is sent before the publish of the same events, on the same connection, so whoever sees an event
 * published can read every event before it.
 */
export interface OutputReplay {
  append(executionId: string, events: ExecutionOutputEvent[]): void;
  /** The events kept for the execution's latest attempt, in order. */
  read(executionId: string): Promise<ExecutionOutputEvent[]>;
  clear(executionId: string): void;
}

export class MemoryOutputReplay implements OutputReplay {
  private readonly kept = new Map<string, ExecutionOutputEvent[]>();

  append(executionId: string, events: ExecutionOutputEvent[]): void {
    const list = this.kept.get(executionId);
    if (list && list[0]!.attempt === events[0]!.attempt) list.push(...events);
    else this.kept.set(executionId, [...events]);
  }

  async read(executionId: string): Promise<ExecutionOutputEvent[]> {
    return [...(this.kept.get(executionId) ?? [])];
  }

  clear(executionId: string): void {
    this.kept.delete(executionId);
  }
}

export class RedisOutputReplay implements OutputReplay {
  constructor(
    private readonly redis: Redis,
    private readonly onError: (error: unknown) => void,
  ) {}

  append(executionId: string, events: ExecutionOutputEvent[]): void {
    const key = replayKey(executionId);
    this.redis.multi().rpush(key, JSON.stringify(events)).pexpire(key, REPLAY_TTL_MS).exec().catch(this.onError);
  }

  async read(executionId: string): Promise<ExecutionOutputEvent[]> {
    const batches = (await this.redis.lrange(replayKey(executionId), 0, -1)).flatMap((text) => JSON.parse(text) as ExecutionOutputEvent[]);
    // What a dead instance's attempt left (its runner never cleared it) is older than the attempt running now.
    const latest = Math.max(0, ...batches.map((e) => e.attempt));
    return batches.filter((e) => e.attempt === latest);
  }

  clear(executionId: string): void {
    this.redis.del(replayKey(executionId)).catch(this.onError);
  }
}

function replayKey(executionId: string): string {
  return `dspy:output:${executionId}`;
}

/**
 * One attempt's output on its way to subscribers: chunks from the adapter, gathered for
 * OUTPUT_FLUSH_MS (consecutive deltas of one field joined), numbered, kept for late subscribers
 * (up to MAX_REPLAY_BYTES) and published. `close` publishes what is left, before the attempt's
 * terminal transition is, so that subscribers see all of it first. Nothing here waits: a run never
 * waits for its subscribers.
 */
export class OutputPublisher {
  private pending: ExecutionOutputEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  private kept = 0;
  private closed = false;

  constructor(
    private readonly bus: EventBus,
    private readonly replay: OutputReplay,
    private readonly tenantId: string,
    private readonly executionId: string,
    private readonly attempt: number,
  ) {}

  readonly push = (chunk: OutputChunk): void => {
    if (this.closed) return;
    const last = this.pending[this.pending.length - 1];
    if (chunk.kind === "delta" && last?.kind === "DELTA" && last.step === chunk.step && last.field === chunk.field) {
      last.text += chunk.text;
    } else {
      const base = { executionId: this.executionId, attempt: this.attempt, seq: 0, step: chunk.step, module: chunk.module };
      this.pending.push(
        chunk.kind === "delta"
          ? { ...base, kind: "DELTA", field: chunk.field, text: chunk.text }
          : { ...base, kind: "STATUS", event: chunk.event, message: chunk.message, ...(chunk.outputs ? { outputs: chunk.outputs } : {}) },
      );
    }
    this.timer ??= setTimeout(this.flush, OUTPUT_FLUSH_MS);
  };

  close(): void {
    this.flush();
    this.closed = true;
  }

  private readonly flush = (): void => {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const events = this.pending;
    this.pending = [];
    for (const event of events) event.seq = ++this.seq;
    if (this.kept < MAX_REPLAY_BYTES) {
      this.kept += JSON.stringify(events).length;
      this.replay.append(this.executionId, events);
    }
    const message: ExecutionOutputMessage = { tenantId: this.tenantId, output: events };
    this.bus.publish(EXECUTION_UPDATED, this.executionId, message);
  };
}
