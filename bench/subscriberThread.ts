import { parentPort, workerData } from "node:worker_threads";
import type { Client } from "graphql-ws";
import { allReceived, connect, Subscriber, TRANSITIONS } from "./wsSubscribers.js";

/**
 * A share of bench:subscribers' graphql-ws subscribers, in a worker thread of the bench: with 10,000 of
 * them, one thread's JavaScript (ws frames, graphql-ws, JSON) would be the slowest part of what is
 * measured; subscribers on several machines would not share one. Answers the bench's messages below.
 */
export type ThreadRequest =
  | { type: "received"; ids: string[]; timeoutMs: number }
  | { type: "report"; ids: string[] }
  | { type: "close" };

export interface ThreadReport {
  /** Delays of the transitions of `ids`, by the state they went to. */
  delays: Record<string, number[]>;
  missing: number;
  complete: number;
  errors: number;
}

const { wsUrl, programId, count, connectBatch, credentials } = workerData as {
  wsUrl: string;
  programId: string;
  count: number;
  connectBatch: number;
  /** Per subscriber, its connection_init payload; absent in development mode. */
  credentials?: Record<string, unknown>[];
};
const subscribers = Array.from({ length: count }, () => new Subscriber());
const clients: Client[] = [];
const port = parentPort;
if (!port) throw new Error("subscriberThread runs in a worker thread");

for (let i = 0; i < count; i += connectBatch) {
  clients.push(...(await Promise.all(subscribers.slice(i, i + connectBatch).map((s, j) => connect(wsUrl, programId, s, credentials?.[i + j])))));
}
port.postMessage({ type: "connected" });

port.on("message", async (request: ThreadRequest) => {
  if (request.type === "received") port.postMessage({ type: "received", ok: await allReceived(subscribers, request.ids, request.timeoutMs) });
  else if (request.type === "report") port.postMessage({ type: "report", report: report(request.ids) });
  else {
    await Promise.all(clients.map((client) => client.dispose()));
    port.postMessage({ type: "closed" });
    port.close();
  }
});

function report(ids: string[]): ThreadReport {
  const delays: Record<string, number[]> = Object.fromEntries(TRANSITIONS.map((to) => [to, []]));
  let missing = 0;
  let complete = 0;
  let errors = 0;
  for (const subscriber of subscribers) {
    errors += subscriber.errors;
    let all = true;
    for (const id of ids) {
      const got = subscriber.count(id);
      missing += Math.max(0, TRANSITIONS.length - got);
      if (got < TRANSITIONS.length) all = false;
      for (const { to, ms } of subscriber.delays.get(id) ?? []) (delays[to] ??= []).push(ms);
    }
    if (all) complete += 1;
  }
  return { delays, missing, complete, errors };
}
