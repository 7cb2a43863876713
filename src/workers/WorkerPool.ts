import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { Router } from "zeromq";
import { AppError } from "../errors.js";
import { LocalWorkerProcess } from "./LocalWorkerProcess.js";
import {
  type AcquirePayload,
  type Command,
  type ProgressPayload,
  type WireError,
  encodeGrant,
  HEARTBEAT_FRAME,
  MAX_FRAME_BYTES,
  decodeWorkerMessage,
  encodeRequest,
  poolErrors,
  wireErrorToAppError,
} from "./protocol.js";
import { DEFAULT_RESTART_POLICY, nextRestart, type RestartPolicy } from "./restartPolicy.js";
import { SocketWriter } from "./SocketWriter.js";

export interface WorkerPoolOptions {
  /** Local Python workers to start (0: only remote workers that connect to `bind`). */
  workers: number;
  /** Requests one worker runs at once (its thread pool). */
  concurrency: number;
  /** Python interpreter of bridge-py's venv, and bridge-py itself (the workers' cwd). */
  python: string;
  bridgeDir: string;
  /**
   * ZeroMQ endpoint the pool binds for remote workers, e.g. tcp://0.0.0.0:5555. Local workers
   * always connect over an ipc socket of their own (faster than loopback tcp); without local workers
   * or `bind`, the pool binds tcp on 127.0.0.1 with an OS-chosen port.
   */
  bind?: string;
  heartbeatMs?: number;
  /** Heartbeats missed before a worker counts as dead. */
  liveness?: number;
  defaultDeadlineMs?: number;
  /** How long a started worker may take to say `ready`. */
  startTimeoutMs?: number;
  /** When a local worker that died is replaced (restartPolicy.ts). */
  restart?: Partial<RestartPolicy>;
  /** Requests waiting for a free worker, beyond which new ones fail fast. */
  maxQueued?: number;
  /** Environment variables added for local workers. */
  env?: Record<string, string>;
}

/** `worker-log`: a line a local worker wrote to stderr (a JSON log line, or Python's own output). */
export interface WorkerLogEvent {
  id: string;
  line: string;
}

/** `worker-exit`: a local worker's process ended. `expected` when the pool was shutting it down. */
export interface WorkerExitEvent {
  id: string;
  slot: number;
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  uptimeMs: number;
  /** Whether it had said `ready`. */
  ready: boolean;
  expected: boolean;
  /** The tail of its stderr. */
  stderr: string;
}

/** `worker-restarting`: the slot of a worker that died starts a new one after `delayMs`. */
export interface WorkerRestartEvent {
  slot: number;
  /** The id the new worker will have. */
  id: string;
  delayMs: number;
}

export interface WorkerInfo {
  id: string;
  pid: number | undefined;
  local: boolean;
  ready: boolean;
  busy: number;
  abandoned: number;
  concurrency: number;
}

/** Extras of one request (a request without them pays nothing for them). */
export interface RequestOptions {
  /** Called with each `progress` message the worker sends for this request, before its reply. */
  onProgress?: (progress: ProgressPayload) => void;
  /** Called with each `stream` message (a `run` with `stream: true`), before its reply. */
  onStream?: (payload: Record<string, unknown>) => void;
  /** An `acquire` (an LM call of a limited model): resolves to let it go, rejects (an AppError) to fail it. */
  onAcquire?: (payload: AcquirePayload) => Promise<void>;
  /** A `spent`: the tokens an answered call of a limited model used. */
  onSpent?: (payload: { lm_key: string; tokens: number }) => void;
  /** Aborting sends the worker `cancel` for this request (run / evaluate / compile); it then replies CANCELLED. */
  signal?: AbortSignal;
  /** W3C trace context the worker continues (src/observability/tracing.ts). */
  traceparent?: string;
}

interface Pending {
  workerId: string;
  onProgress?: (progress: ProgressPayload) => void;
  onStream?: (payload: Record<string, unknown>) => void;
  onAcquire?: (payload: AcquirePayload) => Promise<void>;
  onSpent?: (payload: { lm_key: string; tokens: number }) => void;
  /** Removes the abort listener of `RequestOptions.signal`. */
  detach?: () => void;
  resolve(result: unknown): void;
  reject(error: AppError): void;
  /** When it fails with DEADLINE_EXCEEDED (performance.now() ms), and the deadline it was given (ms). */
  deadlineAt: number;
  deadlineMs: number;
  abandoned: boolean;
}

interface WorkerState {
  id: string;
  pid: number | undefined;
  concurrency: number;
  ready: boolean;
  lastSeen: number;
  /** Calls holding one of its slots. */
  busy: number;
  /** Requests past their deadline that may still occupy one of its threads. */
  abandoned: number;
  pending: Set<string>;
  /** Program and LM keys this worker holds (see rehydration in PROTOCOL.md). */
  known: Set<string>;
  /** Its routing id as the first frame of every message to it, made once. */
  idFrame: Buffer;
  /** What a failed send to it does (one function per worker, not one per message). */
  onSendError: () => void;
  local?: LocalWorkerProcess;
  slot?: number;
}

interface LocalSlot {
  index: number;
  /** How many processes it has started; the current one's id is `w-<index>-<generation>`. */
  generation: number;
  /** The wait before its next start after a quick death (restartPolicy.ts). */
  backoffMs: number;
  process?: LocalWorkerProcess;
  startedAt: number;
  /** Whether its current process has said `ready`. */
  ready: boolean;
  restartTimer?: NodeJS.Timeout;
}

interface Waiter {
  resolve(worker: WorkerState): void;
  reject(error: AppError): void;
  timer: NodeJS.Timeout;
}

/** A call's handle on one worker: every request of the call goes to that worker. */
export interface WorkerLease {
  readonly workerId: string;
  knows(key: string): boolean;
  remember(key: string): void;
  forget(key: string): void;
  request<T = unknown>(command: Command, payload: unknown, options?: RequestOptions): Promise<T>;
}

/**
 * The pool of Python DSPy workers: one ROUTER socket, workers announce themselves with READY,
 * each call goes to the least busy worker with a free slot, heartbeats flow both ways (the ZeroMQ
 * Guide's Paranoid Pirate), a worker that dies or goes silent fails what it had in flight
 * (`WORKER_DIED`, retriable) and, when it was started here, is replaced (restartPolicy.ts).
 */
export class WorkerPool extends EventEmitter {
  private readonly options: Required<Omit<WorkerPoolOptions, "bind" | "env" | "restart">> & Pick<WorkerPoolOptions, "bind" | "env"> & { restart: RestartPolicy };
  private readonly router = new Router({ mandatory: true, linger: 0, sendHighWaterMark: 10_000, receiveHighWaterMark: 10_000 });
  private readonly writer = new SocketWriter(this.router);
  private readonly workers = new Map<string, WorkerState>();
  private readonly pending = new Map<string, Pending>();
  /**
   * One timer for every request deadline, armed for the earliest one (instead of a setTimeout and a
   * clearTimeout per request): when it fires it fails what is due and re-arms for the next.
   */
  private deadlineTimer?: NodeJS.Timeout;
  private deadlineTimerAt = Number.POSITIVE_INFINITY;
  private readonly waiters: Waiter[] = [];
  /** One per local worker: the process currently filling it and its restart bookkeeping. */
  private readonly slots: LocalSlot[] = [];
  private heartbeatTimer?: NodeJS.Timeout;
  private nextRequestId = 0;
  private closing = false;
  private endpointValue = "";
  private localEndpoint = "";

  constructor(options: WorkerPoolOptions) {
    super();
    this.options = {
      heartbeatMs: 1000,
      liveness: 3,
      defaultDeadlineMs: 60_000,
      startTimeoutMs: 60_000,
      maxQueued: 10_000,
      ...options,
      restart: { ...DEFAULT_RESTART_POLICY, ...options.restart },
    };
  }

  /** The endpoint remote workers connect to (`bind` in the form a worker on this host can use). */
  get endpoint(): string {
    return this.endpointValue;
  }

  /** Binds, starts the local workers and waits until each has said `ready`. */
  async start(): Promise<void> {
    if (this.options.workers > 0) this.localEndpoint = await this.bindLocal();
    if (this.options.bind !== undefined || !this.localEndpoint) {
      await this.router.bind(this.options.bind ?? "tcp://127.0.0.1:*");
      this.endpointValue = this.connectableEndpoint(this.router.lastEndpoint ?? "");
    }
    this.endpointValue ||= this.localEndpoint;
    void this.receiveLoop();
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.options.heartbeatMs);
    this.heartbeatTimer.unref();
    const ready = Array.from({ length: this.options.workers }, (_, index) => {
      this.slots.push({ index, generation: 0, backoffMs: this.options.restart.initialBackoffMs, startedAt: 0, ready: false });
      return this.startLocal(index);
    });
    try {
      await Promise.all(ready);
    } catch (error) {
      await this.close(0);
      throw error;
    }
  }

  info(): WorkerInfo[] {
    return [...this.workers.values()].map((w) => ({
      id: w.id,
      pid: w.pid,
      local: w.local !== undefined,
      ready: w.ready,
      busy: w.busy,
      abandoned: w.abandoned,
      concurrency: w.concurrency,
    }));
  }

  get queued(): number {
    return this.waiters.length;
  }

  /** One request on whichever worker is least busy, without taking a slot (for `ping`). */
  request<T = unknown>(command: Command, payload: unknown, deadlineMs = this.options.defaultDeadlineMs): Promise<T> {
    const deadlineAt = Date.now() + deadlineMs;
    const worker = this.leastBusy(false);
    if (worker) return this.send<T>(worker, command, payload, deadlineAt);
    return this.acquire(deadlineAt, false).then((w) => this.send<T>(w, command, payload, deadlineAt));
  }

  /**
   * Runs `work` holding one slot of one worker until it settles; every request it makes goes to that
   * worker, and the whole call shares one deadline.
   */
  async withWorker<T>(deadlineMs: number, work: (lease: WorkerLease) => Promise<T>): Promise<T> {
    const deadlineAt = Date.now() + deadlineMs;
    const worker = await this.acquire(deadlineAt, true);
    const lease: WorkerLease = {
      workerId: worker.id,
      knows: (key) => worker.known.has(key),
      remember: (key) => void worker.known.add(key),
      forget: (key) => void worker.known.delete(key),
      request: <R>(command: Command, payload: unknown, options?: RequestOptions) => this.send<R>(worker, command, payload, deadlineAt, options),
    };
    try {
      return await work(lease);
    } finally {
      worker.busy -= 1;
      this.wake();
    }
  }

  /** Stops taking work, lets what runs finish (up to `drainMs`), shuts the workers down and unbinds. */
  async close(drainMs = 10_000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(poolErrors.closed());
    }
    const drainUntil = Date.now() + drainMs;
    while (this.pending.size > 0 && Date.now() < drainUntil) await sleep(20);
    for (const slot of this.slots) clearTimeout(slot.restartTimer);
    for (const worker of this.workers.values()) {
      this.writer.send(worker.idFrame, encodeRequest(`shutdown-${worker.id}`, "shutdown", {}, 1000));
    }
    const exits = this.slots.map((slot) => slot.process?.exited);
    await Promise.race([Promise.all(exits), sleep(5_000)]);
    for (const slot of this.slots) slot.process?.kill("SIGKILL");
    await Promise.all(exits);
    for (const id of [...this.workers.keys()]) this.drop(id, "was shut down");
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.deadlineTimer);
    this.router.close();
  }

  private slotId(slot: LocalSlot, generation = slot.generation): string {
    return `w-${slot.index}-${generation}`;
  }

  /**
   * An ipc socket for this pool's own workers: a round trip over it is about 35 µs shorter than over
   * loopback tcp here (bench:pool). On Linux it is in the abstract namespace, so no file is left
   * behind even by a killed server (and, like loopback tcp, any local process may connect).
   * Loopback tcp where ipc is not available.
   */
  private async bindLocal(): Promise<string> {
    if (process.platform === "linux") {
      try {
        await this.router.bind(`ipc://@dspy-pool-${process.pid}-${randomBytes(6).toString("hex")}`);
        return this.router.lastEndpoint ?? "";
      } catch {
        // fall through to tcp
      }
    }
    await this.router.bind("tcp://127.0.0.1:*");
    return this.connectableEndpoint(this.router.lastEndpoint ?? "");
  }

  private connectableEndpoint(bound: string): string {
    // Workers on this host connect to loopback even when the pool binds every interface.
    return bound.replace("tcp://0.0.0.0:", "tcp://127.0.0.1:");
  }

  private startLocal(index: number): Promise<void> {
    const slot = this.slots[index];
    slot.generation += 1;
    slot.startedAt = Date.now();
    slot.ready = false;
    const id = this.slotId(slot);
    const process = new LocalWorkerProcess({
      id,
      python: this.options.python,
      bridgeDir: this.options.bridgeDir,
      endpoint: this.localEndpoint,
      concurrency: this.options.concurrency,
      heartbeatMs: this.options.heartbeatMs,
      liveness: this.options.liveness,
      env: this.options.env,
      onLine: (line) => this.emit("worker-log", { id, line } satisfies WorkerLogEvent),
    });
    slot.process = process;
    void process.exited.then(({ code, signal }) => {
      const current = slot.process === process;
      const exit: WorkerExitEvent = {
        id,
        slot: index,
        pid: process.pid,
        code,
        signal,
        uptimeMs: Date.now() - slot.startedAt,
        ready: current && slot.ready,
        expected: this.closing || !current,
        stderr: process.stderr(),
      };
      this.emit("worker-exit", exit);
      this.drop(id, signal ? `was killed (${signal})` : `exited with code ${code}`);
      if (!exit.expected) this.scheduleRestart(slot, exit);
    });
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        process.kill("SIGKILL");
        reject(poolErrors.noWorkers(`worker ${id} did not start within ${this.options.startTimeoutMs} ms: ${process.stderr().slice(-2000)}`));
      }, this.options.startTimeoutMs);
      const onReady = (info: { id: string }) => {
        if (info.id !== id) return;
        clearTimeout(timer);
        this.off("worker-ready", onReady);
        resolve();
      };
      this.on("worker-ready", onReady);
      void process.exited.then(() => {
        clearTimeout(timer);
        this.off("worker-ready", onReady);
        if (!this.workers.has(id)) reject(poolErrors.noWorkers(`worker ${id} exited before it was ready: ${process.stderr().slice(-2000)}`));
      });
    });
  }

  /** Requests waiting for a worker meanwhile keep waiting, up to their own deadlines. */
  private scheduleRestart(slot: LocalSlot, exit: WorkerExitEvent): void {
    const { delayMs, backoffMs } = nextRestart(this.options.restart, slot.backoffMs, { uptimeMs: exit.uptimeMs, wasReady: exit.ready });
    slot.backoffMs = backoffMs;
    const restart: WorkerRestartEvent = { slot: slot.index, id: this.slotId(slot, slot.generation + 1), delayMs };
    this.emit("worker-restarting", restart);
    slot.restartTimer = setTimeout(() => {
      if (this.closing) return;
      this.startLocal(slot.index).catch((error: unknown) => this.emit("worker-start-failed", error));
    }, delayMs);
    slot.restartTimer.unref();
  }

  private async receiveLoop(): Promise<void> {
    // receive() in a plain loop: `for await` over the socket costs an extra async step per message.
    const router = this.router;
    try {
      while (!router.closed) {
        // The routing id, then one protocol message per frame (a worker batches them under load).
        const frames = await router.receive();
        const workerId = frames[0].toString("utf8");
        for (let i = 1; i < frames.length; i++) if (frames[i].length > 0) this.onMessage(workerId, frames[i]);
      }
    } catch (error) {
      if (router.closed && (error as { code?: string }).code === "EAGAIN") return; // closed while waiting
      if (!this.closing) this.emit("error", error);
    }
  }

  private onMessage(workerId: string, frame: Buffer): void {
    const message = decodeWorkerMessage(frame);
    if (!message) return; // Not ours to answer: a worker never depends on the pool's replies to garbage.
    const worker = this.workers.get(workerId);
    if (worker) worker.lastSeen = Date.now();
    if (message.type === "ready") return this.onReady(workerId, message.pid, message.concurrency);
    if (!worker) return;
    if (message.type === "reply") {
      const pending = this.pending.get(message.id);
      if (!pending || pending.workerId !== workerId) return;
      this.settle(message.id, pending);
      if (pending.abandoned) return;
      if (message.ok) pending.resolve(message.result);
      else pending.reject(wireErrorToAppError(message.error));
    } else if (message.type === "progress") {
      const pending = this.pending.get(message.id);
      if (!pending || pending.workerId !== workerId || pending.abandoned || !pending.onProgress) return;
      try {
        pending.onProgress(message.payload);
      } catch (error) {
        this.emit("progress-error", error);
      }
    } else if (message.type === "stream") {
      const pending = this.pending.get(message.id);
      if (!pending || pending.workerId !== workerId || pending.abandoned || !pending.onStream) return;
      try {
        pending.onStream(message.payload);
      } catch (error) {
        this.emit("progress-error", error);
      }
    } else if (message.type === "acquire") {
      const pending = this.pending.get(message.id);
      if (!pending || pending.workerId !== workerId || pending.abandoned) return;
      const { seq } = message.payload;
      const grant = (error?: WireError) => this.workers.has(workerId) && this.writer.send(worker.idFrame, encodeGrant(message.id, seq, error), worker.onSendError);
      // A request that asked for no limits has nothing to wait for.
      if (!pending.onAcquire) return void grant();
      pending.onAcquire(message.payload).then(
        () => grant(),
        (error: unknown) => grant(error instanceof AppError ? { code: error.code, layer: error.layer, message: error.message, retriable: error.retriable } : { code: "LM_RATE_LIMITED", layer: "lm", message: String(error), retriable: true }),
      );
    } else if (message.type === "spent") {
      const pending = this.pending.get(message.id);
      if (!pending || pending.workerId !== workerId) return;
      pending.onSpent?.(message.payload);
    }
  }

  private onReady(workerId: string, pid: number, concurrency: number): void {
    // A READY from a worker we hold means it restarted: what it had in flight is gone.
    if (this.workers.has(workerId)) this.drop(workerId, "restarted");
    const slotIndex = this.slots.findIndex((slot) => this.slotId(slot) === workerId);
    const local = slotIndex >= 0 ? this.slots[slotIndex].process : undefined;
    if (slotIndex >= 0) this.slots[slotIndex].ready = true;
    const worker: WorkerState = {
      id: workerId,
      pid,
      concurrency: Math.max(1, Number(concurrency) || 1),
      ready: true,
      lastSeen: Date.now(),
      busy: 0,
      abandoned: 0,
      pending: new Set(),
      known: new Set(),
      local,
      slot: slotIndex >= 0 ? slotIndex : undefined,
      idFrame: Buffer.from(workerId, "utf8"),
      onSendError: () => {
        if (this.workers.get(workerId) === worker) this.drop(workerId, "became unreachable");
      },
    };
    this.workers.set(workerId, worker);
    this.emit("worker-ready", { id: workerId, pid });
    this.wake();
  }

  private heartbeat(): void {
    const silentFor = this.options.heartbeatMs * this.options.liveness;
    const now = Date.now();
    for (const worker of [...this.workers.values()]) {
      if (now - worker.lastSeen > silentFor) {
        this.emit("worker-silent", { id: worker.id, pid: worker.pid });
        this.drop(worker.id, `went silent for ${now - worker.lastSeen} ms`);
        worker.local?.kill("SIGKILL");
        continue;
      }
      this.writer.send(worker.idFrame, HEARTBEAT_FRAME, worker.onSendError);
    }
  }

  /** Forgets a worker: everything it had in flight fails as retriable, its process (if ours) is left to exit. */
  private drop(workerId: string, reason: string): void {
    const worker = this.workers.get(workerId);
    if (!worker) return;
    this.workers.delete(workerId);
    for (const id of worker.pending) {
      const pending = this.pending.get(id);
      if (!pending) continue;
      this.settle(id, pending);
      if (!pending.abandoned) pending.reject(poolErrors.workerDied(workerId, reason));
    }
    this.emit("worker-dropped", { id: workerId, reason });
  }

  private settle(id: string, pending: Pending): void {
    this.pending.delete(id);
    pending.detach?.();
    const worker = this.workers.get(pending.workerId);
    if (!worker) return;
    worker.pending.delete(id);
    if (pending.abandoned) {
      worker.abandoned -= 1;
      this.wake();
    }
  }

  private send<T>(worker: WorkerState, command: Command, payload: unknown, deadlineAt: number, options?: RequestOptions): Promise<T> {
    if (!this.workers.has(worker.id)) return Promise.reject(poolErrors.workerDied(worker.id, "was lost"));
    const id = `r${++this.nextRequestId}`;
    const remaining = Math.max(1, deadlineAt - Date.now());
    const frame = encodeRequest(id, command, payload, remaining, options?.traceparent);
    if (frame.length > MAX_FRAME_BYTES) return Promise.reject(poolErrors.tooLarge(frame.length));
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = {
        workerId: worker.id,
        resolve: resolve as (result: unknown) => void,
        reject,
        abandoned: false,
        deadlineAt: performance.now() + remaining,
        deadlineMs: remaining,
      };
      this.pending.set(id, pending);
      if (pending.deadlineAt < this.deadlineTimerAt) this.armDeadlineTimer(pending.deadlineAt);
      worker.pending.add(id);
      this.writer.send(worker.idFrame, frame, worker.onSendError);
      if (options) this.attachOptions(worker, id, pending, options);
    });
  }

  /** Progress routing and cancellation for one request (only requests that ask for them pay for them). */
  private attachOptions(worker: WorkerState, id: string, pending: Pending, options: RequestOptions): void {
    pending.onProgress = options.onProgress;
    pending.onStream = options.onStream;
    pending.onAcquire = options.onAcquire;
    pending.onSpent = options.onSpent;
    const signal = options.signal;
    if (!signal) return;
    const cancel = () => {
      if (!this.pending.has(id) || !this.workers.has(worker.id)) return;
      // Sent after the request on the same socket, so the worker sees the request first.
      this.send(worker, "cancel", { id }, Date.now() + 10_000).catch((error: unknown) => this.emit("cancel-failed", { id, error }));
    };
    if (signal.aborted) return cancel();
    signal.addEventListener("abort", cancel, { once: true });
    pending.detach = () => signal.removeEventListener("abort", cancel);
  }

  private armDeadlineTimer(at: number): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimerAt = at;
    this.deadlineTimer = setTimeout(() => this.expireDue(), Math.max(1, Math.ceil(at - performance.now())));
  }

  /** Fails every request whose deadline has come, then waits for the next deadline (if any). */
  private expireDue(): void {
    this.deadlineTimer = undefined;
    this.deadlineTimerAt = Number.POSITIVE_INFINITY;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [id, pending] of this.pending) {
      if (pending.abandoned) continue;
      if (pending.deadlineAt <= now) this.expire(id, pending.deadlineMs);
      else if (pending.deadlineAt < next) next = pending.deadlineAt;
    }
    if (next < this.deadlineTimerAt) this.armDeadlineTimer(next);
  }

  /** A request past its deadline fails now; its thread may still be busy, so it keeps its slot until the reply. */
  private expire(id: string, ms: number): void {
    const pending = this.pending.get(id);
    if (!pending || pending.abandoned) return;
    pending.abandoned = true;
    pending.reject(poolErrors.deadline(ms));
    const worker = this.workers.get(pending.workerId);
    if (!worker) return;
    worker.abandoned += 1;
    if (worker.abandoned >= worker.concurrency) {
      // Every thread is stuck on something nobody waits for: replace the worker.
      this.emit("worker-stuck", { id: worker.id, pid: worker.pid });
      this.drop(worker.id, "was stuck past its deadlines");
      worker.local?.kill("SIGKILL");
    }
  }

  private leastBusy(needSlot: boolean): WorkerState | undefined {
    let best: WorkerState | undefined;
    for (const worker of this.workers.values()) {
      if (!worker.ready) continue;
      const load = worker.busy + worker.abandoned;
      if (needSlot && load >= worker.concurrency) continue;
      if (!best || load < best.busy + best.abandoned) best = worker;
    }
    return best;
  }

  private acquire(deadlineAt: number, needSlot: boolean): Promise<WorkerState> {
    if (this.closing) return Promise.reject(poolErrors.closed());
    const worker = this.waiters.length === 0 ? this.leastBusy(needSlot) : undefined;
    if (worker) {
      if (needSlot) worker.busy += 1;
      return Promise.resolve(worker);
    }
    if (this.waiters.length >= this.options.maxQueued) return Promise.reject(poolErrors.noWorkers(`${this.waiters.length} requests are already waiting for a worker`));
    return new Promise<WorkerState>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (w) => {
          if (needSlot) w.busy += 1;
          resolve(w);
        },
        reject,
        timer: setTimeout(() => {
          const index = this.waiters.indexOf(waiter);
          if (index >= 0) this.waiters.splice(index, 1);
          reject(poolErrors.noWorkers(this.workers.size === 0 ? "no worker is available" : "every worker stayed busy until the deadline"));
        }, Math.max(1, deadlineAt - Date.now())),
      };
      this.waiters.push(waiter);
    });
  }

  private wake(): void {
    while (this.waiters.length > 0) {
      const worker = this.leastBusy(true);
      if (!worker) return;
      const waiter = this.waiters.shift()!;
      clearTimeout(waiter.timer);
      waiter.resolve(worker);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
