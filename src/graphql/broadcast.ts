import { type ExecutionArgs, type ExecutionResult, execute, type FormattedExecutionResult, GraphQLError } from "graphql";
import { AppError } from "../errors.js";

const BROADCAST = Symbol("broadcast");

/**
 * Marks a subscription's source whose events depend only on the caller's tenant, role and the
 * operation's arguments (no state of its own, such as a first snapshot or a read position): the
 * subscribers with the same operation and rights can then share one source, one execution and one
 * serialization per event (BroadcastGroups). The resolver's `subscribe` returns `broadcast(source)`.
 */
export function broadcast<T extends object>(source: T): T {
  return Object.assign(source, { [BROADCAST]: true });
}

export function isBroadcast(source: unknown): boolean {
  return typeof source === "object" && source !== null && (source as Record<symbol, unknown>)[BROADCAST] === true;
}

/** A subscriber's transport, written to directly by a group (graphql-ws: its socket and operation id). */
export interface SubscriberSink {
  /** Sends one `next` message per payload (JSON text of a formatted result), in order, now. */
  sendNext(payloadsJson: readonly string[]): void;
  /** Bytes written to the transport and not yet sent: how far behind the subscriber reads. */
  unsent(): number;
}

/**
 * A subscriber's own credentials, checked before each event: `lapse` answers the error to end it with
 * once they lapsed, else null. Members with the same `key` (the same API key and expiry) share one
 * answer per event, so 10,000 members on one key cost one check.
 */
export interface CredentialCheck {
  key: string;
  lapse(): Error | null | Promise<Error | null>;
}

/**
 * A lapsed subscriber's last event (then it completes): its data null and the error, as a field refused:
 * UNAUTHENTICATED, or why its credentials could not be checked (the database unreachable).
 */
export function lapsedResult(error: Error): ExecutionResult {
  return { data: null, errors: [new GraphQLError(error.message, { originalError: error })] };
}

export interface BroadcastOptions {
  /** What a transport sends of a result (errors shaped like every other response). */
  formatResult(result: ExecutionResult): FormattedExecutionResult;
  /** Unsent bytes past which a subscriber is dropped with SLOW_SUBSCRIBER (SUBSCRIBER_BUFFER_BYTES). */
  slowSubscriberBytes: number;
}

/**
 * The fan-out of broadcast subscriptions: one group per share key (operation and rights), one
 * source per group, and per event one execution, one JSON text, and one synchronous write to each
 * member's transport. A member is a parked iterator for the transport's own loop: it yields nothing
 * and ends (done, or with the group's error) when the group ends, so `complete` and `error` still
 * come from the transport, after the last `next` written here. With 10,000 subscribers to one program,
 * a transition costs 10,000 writes, not 10,000 chains of promises, executions and serializations.
 */
export class BroadcastGroups {
  private readonly groups = new Map<string, BroadcastGroup>();

  constructor(private readonly options: BroadcastOptions) {}

  /**
   * Joins `sink` to the group of `key`, started on `source` when there is none; otherwise `source`
   * (opened by this subscriber's own subscribe, which checked its rights) is closed unused. `check`:
   * the member's credentials, when they can lapse while it is a member.
   */
  join(key: string, source: AsyncIterable<unknown>, args: ExecutionArgs, sink: SubscriberSink, check?: CredentialCheck): AsyncGenerator<never> {
    let group = this.groups.get(key);
    if (group) closeQuietly(source[Symbol.asyncIterator]());
    else {
      group = new BroadcastGroup(source[Symbol.asyncIterator](), args, this.options, () => this.groups.delete(key));
      this.groups.set(key, group);
    }
    return group.add(sink, check);
  }
}

class BroadcastGroup {
  private readonly members = new Set<Member>();
  private closed = false;
  /** Results read from the source and not yet written; written together on the next turn. */
  private batch: string[] = [];
  private flushScheduled = false;

  constructor(
    private readonly source: AsyncIterator<unknown>,
    private readonly args: ExecutionArgs,
    private readonly options: BroadcastOptions,
    private readonly onClose: () => void,
  ) {
    void this.pump();
  }

  add(sink: SubscriberSink, check?: CredentialCheck): AsyncGenerator<never> {
    const member = new Member(sink, () => this.remove(member), check);
    this.members.add(member);
    return member.iterator();
  }

  private remove(member: Member): void {
    if (this.members.delete(member) && this.members.size === 0) this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
    closeQuietly(this.source);
  }

  private async pump(): Promise<void> {
    let failure: unknown;
    try {
      for (;;) {
        const item = await this.source.next();
        if (item.done || this.closed) break;
        await this.endLapsed();
        const result = await execute({ ...this.args, rootValue: item.value });
        this.batch.push(JSON.stringify(this.options.formatResult(result)));
        if (!this.flushScheduled) {
          this.flushScheduled = true;
          setImmediate(() => this.flush());
        }
      }
    } catch (error) {
      failure = error;
    }
    this.flush();
    this.close();
    for (const member of [...this.members]) member.end(failure);
  }

  /**
   * Ends the members whose credentials lapsed, after writing them what came before: each gets its error
   * (UNAUTHENTICATED, or why the check could not be made) as its last event, then completes. The group's
   * execution holds no one's credentials, so each member's are checked before each event.
   */
  private async endLapsed(): Promise<void> {
    const asked = new Set<string>();
    const lapses = new Map<string, Error>();
    const waiting: Promise<void>[] = [];
    for (const { check } of this.members) {
      if (!check || asked.has(check.key)) continue;
      asked.add(check.key);
      const answer = check.lapse();
      if (answer instanceof Promise) waiting.push(answer.then((error) => void (error && lapses.set(check.key, error))));
      else if (answer) lapses.set(check.key, answer);
    }
    if (waiting.length > 0) await Promise.all(waiting);
    if (lapses.size === 0) return;
    this.flush();
    const lastEvents = new Map([...lapses].map(([key, error]) => [key, JSON.stringify(this.options.formatResult(lapsedResult(error)))]));
    for (const member of [...this.members]) {
      const lastEvent = member.check && lastEvents.get(member.check.key);
      if (lastEvent) member.finish(lastEvent);
    }
  }

  /**
   * Writes what the source gave since the last flush to every member. Events that came while the
   * previous fan-out ran (an execution's RUNNING and COMPLETED behind its PENDING) go out together:
   * one write per member instead of one per event, for the server and for each subscriber.
   */
  private flush(): void {
    this.flushScheduled = false;
    const batch = this.batch;
    if (batch.length === 0) return;
    this.batch = [];
    for (const member of this.members) member.deliver(batch, this.options.slowSubscriberBytes);
  }
}

/** One subscriber of a group. */
class Member {
  private ended = false;
  private settle?: { resolve(result: IteratorResult<never>): void; reject(error: unknown): void };
  private outcome?: { error: unknown };

  constructor(
    private readonly sink: SubscriberSink,
    private readonly leave: () => void,
    readonly check?: CredentialCheck,
  ) {}

  deliver(batch: readonly string[], slowBytes: number): void {
    if (this.ended) return;
    if (this.sink.unsent() > slowBytes) {
      this.end(AppError.slowSubscriber(`${slowBytes} bytes`));
      return;
    }
    try {
      this.sink.sendNext(batch);
    } catch (error) {
      // This member's transport failed: it ends, the others still get the batch.
      this.end(error);
    }
  }

  /** Writes the member its last event, then ends it (done: the transport completes the subscription). */
  finish(payloadJson: string): void {
    if (this.ended) return;
    try {
      this.sink.sendNext([payloadJson]);
    } catch {
      // Its transport failed: it ends all the same.
    }
    this.end();
  }

  /** Ends the member: its iterator finishes (done, or rejected with `error`), and it leaves the group. */
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.leave();
    this.outcome = { error };
    const settle = this.settle;
    this.settle = undefined;
    if (!settle) return;
    if (error === undefined) settle.resolve({ done: true, value: undefined });
    else settle.reject(error);
  }

  iterator(): AsyncGenerator<never> {
    const member = this;
    const finished = (): Promise<IteratorResult<never>> => {
      const error = member.outcome?.error;
      member.outcome = { error: undefined };
      return error === undefined ? Promise.resolve({ done: true, value: undefined }) : Promise.reject(error);
    };
    return {
      next(): Promise<IteratorResult<never>> {
        if (member.ended) return finished();
        return new Promise((resolve, reject) => (member.settle = { resolve, reject }));
      },
      return(): Promise<IteratorResult<never>> {
        member.end();
        return Promise.resolve({ done: true, value: undefined });
      },
      throw(error: unknown): Promise<IteratorResult<never>> {
        member.end();
        return Promise.reject(error);
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    } as AsyncGenerator<never>;
  }
}

/** Returns an iterator nobody reads any more; how its return ends concerns nobody either. */
function closeQuietly(iterator: AsyncIterator<unknown>): void {
  Promise.resolve(iterator.return?.()).catch(() => undefined);
}
