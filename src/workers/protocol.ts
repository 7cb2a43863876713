import { AppError, type ErrorLayer } from "../errors.js";

/** Wire protocol with the Python workers: bridge-py/PROTOCOL.md is the reference. */
export const PROTOCOL_VERSION = 1;
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;

export type Command =
  | "ping"
  | "configure_lm"
  | "define_program"
  | "run"
  | "dump_state"
  | "load_state"
  | "evaluate"
  | "compile"
  | "cancel"
  | "export_state"
  | "import_state"
  | "shutdown"
  | "embed"
  | "define_corpus"
  | "search"
  | "list_mcp_tools"
  | "parse_answer"
  | "lm_capabilities";

/** What an `evaluate` / `compile` reports while it runs (PROTOCOL.md "Progress"). */
export interface ProgressPayload {
  phase: string;
  done: number;
  total: number | null;
  trials?: number;
  best_score?: number | null;
  metric_calls?: number;
}

export interface WireError {
  code: string;
  layer: ErrorLayer;
  message: string;
  retriable: boolean;
  details?: Record<string, unknown>;
}

export type WorkerMessage =
  | { v: 1; type: "ready"; worker: string; pid: number; concurrency: number; dspy?: string; protocol?: number }
  | { v: 1; type: "heartbeat" }
  | { v: 1; type: "reply"; id: string; ok: true; result: unknown; elapsed_ms?: number }
  | { v: 1; type: "reply"; id: string; ok: false; error: WireError; elapsed_ms?: number }
  | { v: 1; type: "progress"; id: string; payload: ProgressPayload }
  | { v: 1; type: "stream"; id: string; payload: Record<string, unknown> }
  | { v: 1; type: "acquire"; id: string; payload: AcquirePayload }
  | { v: 1; type: "spent"; id: string; payload: { lm_key: string; tokens: number } };

/** A worker asking to make one LM call of a limited language model (PROTOCOL.md "Per-LM limits"). */
export interface AcquirePayload {
  seq: number;
  lm_key: string;
}

/** The pool's answer to an `acquire`: go, or the error the call fails with. */
export function encodeGrant(id: string, seq: number, error?: WireError): Buffer {
  const payload = error ? { seq, ok: false, error } : { seq, ok: true };
  return Buffer.from(JSON.stringify({ v: PROTOCOL_VERSION, type: "grant", id, payload }), "utf8");
}

/** `traceparent`: the W3C trace context the worker continues (PROTOCOL.md "Trace context"); left out when there is none. */
export function encodeRequest(id: string, command: Command, payload: unknown, deadlineMs: number, traceparent?: string): Buffer {
  const message = traceparent === undefined
    ? { v: PROTOCOL_VERSION, type: "request", id, command, deadline_ms: deadlineMs, payload }
    : { v: PROTOCOL_VERSION, type: "request", id, command, deadline_ms: deadlineMs, traceparent, payload };
  return Buffer.from(JSON.stringify(message), "utf8");
}

export const HEARTBEAT_FRAME = Buffer.from(JSON.stringify({ v: PROTOCOL_VERSION, type: "heartbeat" }), "utf8");

/** Parses a worker's frame; null for anything that is not a well-formed message of this version. */
export function decodeWorkerMessage(frame: Buffer): WorkerMessage | null {
  if (frame.length > MAX_FRAME_BYTES) return null;
  let message: unknown;
  try {
    message = JSON.parse(frame.toString("utf8"));
  } catch {
    return null;
  }
  if (message === null || typeof message !== "object") return null;
  const m = message as Record<string, unknown>;
  if (m.v !== PROTOCOL_VERSION || typeof m.type !== "string") return null;
  if ((m.type === "reply" || m.type === "progress" || m.type === "stream" || m.type === "acquire" || m.type === "spent") && typeof m.id !== "string") return null;
  if ((m.type === "progress" || m.type === "stream" || m.type === "acquire" || m.type === "spent") && (m.payload === null || typeof m.payload !== "object")) return null;
  if (m.type === "acquire" && (typeof (m.payload as AcquirePayload).seq !== "number" || typeof (m.payload as AcquirePayload).lm_key !== "string")) return null;
  if (m.type === "ready" && typeof m.worker !== "string") return null;
  return m as unknown as WorkerMessage;
}

/** A worker's error reply as the product's one error type. */
export function wireErrorToAppError(error: WireError): AppError {
  return new AppError(error.code, error.message, { layer: error.layer, retriable: error.retriable, details: error.details });
}

export const poolErrors = {
  workerDied: (workerId: string, reason: string) =>
    new AppError("WORKER_DIED", `worker ${workerId} ${reason} while the request was in flight`, { layer: "worker", retriable: true }),
  deadline: (ms: number) => new AppError("DEADLINE_EXCEEDED", `no reply within ${ms} ms`, { layer: "worker", retriable: true }),
  noWorkers: (reason: string) => new AppError("NO_WORKERS", reason, { layer: "worker", retriable: true }),
  closed: () => new AppError("POOL_CLOSED", "the worker pool is shutting down", { layer: "transport", retriable: false }),
  tooLarge: (bytes: number) =>
    new AppError("PAYLOAD_TOO_LARGE", `request is ${bytes} bytes; the limit is ${MAX_FRAME_BYTES}`, { layer: "protocol", retriable: false }),
};
