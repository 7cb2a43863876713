import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";
import { nowMs, sleep } from "./support.js";

/** graphql-ws subscribers to `executionEvents(programId)` in this process, for bench:subscribers and bench:memory. */
export const TRANSITIONS = ["PENDING", "RUNNING", "COMPLETED"];

const SUBSCRIPTION = `subscription($p: ID!) { executionEvents(programId: $p) { id status lastEvent { seq to at } } }`;
interface Update {
  executionEvents: { id: string; status: string; lastEvent: { seq: number; to: string; at: string } };
}

/** What one subscriber received: per execution id, the set of transitions ("seq:to"), and each one's delay. */
export class Subscriber {
  readonly seen = new Map<string, Set<string>>();
  readonly delays = new Map<string, { to: string; ms: number }[]>();
  errors = 0;

  receive(update: Update, receivedAt: number): void {
    const { id, lastEvent } = update.executionEvents;
    let set = this.seen.get(id);
    if (!set) this.seen.set(id, (set = new Set()));
    set.add(`${lastEvent.seq}:${lastEvent.to}`);
    let delays = this.delays.get(id);
    if (!delays) this.delays.set(id, (delays = []));
    delays.push({ to: lastEvent.to, ms: receivedAt - Date.parse(lastEvent.at) });
  }

  count(id: string): number {
    return this.seen.get(id)?.size ?? 0;
  }
}

/** `connectionParams`: the subscriber's credentials (connection_init), none in development mode. */
export async function connect(wsUrl: string, programId: string, subscriber: Subscriber, connectionParams?: Record<string, unknown>): Promise<Client> {
  const client = createClient({ url: wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false, connectionParams });
  await new Promise<void>((resolve, reject) => {
    const offConnected = client.on("connected", () => {
      offConnected();
      offError();
      resolve();
    });
    const offError = client.on("error", (error) => {
      offConnected();
      offError();
      reject(error instanceof Error ? error : new Error("connection error"));
    });
  });
  client.subscribe<Update["executionEvents"]>(
    { query: SUBSCRIPTION, variables: { p: programId } },
    {
      next: (value) => {
        const receivedAt = nowMs();
        if (value.errors || !value.data) subscriber.errors += 1;
        else subscriber.receive(value.data as unknown as Update, receivedAt);
      },
      error: () => {
        subscriber.errors += 1;
      },
      complete: () => undefined,
    },
  );
  return client;
}

/** Waits until every subscriber has all three transitions of each of `ids`, or `timeoutMs` passed. */
export async function allReceived(subscribers: Subscriber[], ids: string[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (subscribers.every((s) => ids.every((id) => s.count(id) >= TRANSITIONS.length))) return true;
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
}

