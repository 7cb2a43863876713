import { type ChildProcess, spawn } from "node:child_process";
import { workerEnv } from "./workerEnv.js";

export interface LocalWorkerSpec {
  id: string;
  python: string;
  bridgeDir: string;
  endpoint: string;
  concurrency: number;
  heartbeatMs: number;
  liveness: number;
  /** Added to the worker's environment (workerEnv: only what Python and DSPy need of this process's). */
  env?: Record<string, string>;
  /** Each line the worker writes to stderr (its JSON log lines, or a Python warning). */
  onLine?: (line: string) => void;
}

/** One Python worker process started by this pool. Keeps the tail of its stderr for diagnostics. */
export class LocalWorkerProcess {
  readonly child: ChildProcess;
  private readonly stderrTail: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly spec: LocalWorkerSpec) {
    this.child = spawn(
      spec.python,
      [
        "-m",
        "dspy_bridge.worker",
        "--connect",
        spec.endpoint,
        "--id",
        spec.id,
        "--concurrency",
        String(spec.concurrency),
        "--heartbeat-ms",
        String(spec.heartbeatMs),
        "--liveness",
        String(spec.liveness),
        // So that it exits if this process dies without stopping it.
        "--parent-pid",
        String(process.pid),
      ],
      { cwd: spec.bridgeDir, stdio: ["ignore", "ignore", "pipe"], env: workerEnv(process.env, spec.env) },
    );
    this.child.stderr?.setEncoding("utf8");
    let partial = "";
    this.child.stderr?.on("data", (chunk: string) => {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines.filter(Boolean)) {
        this.stderrTail.push(line);
        spec.onLine?.(line);
      }
      if (this.stderrTail.length > 40) this.stderrTail.splice(0, this.stderrTail.length - 40);
    });
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => resolve({ code, signal }));
      this.child.once("error", () => resolve({ code: null, signal: null }));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.running) this.child.kill(signal);
  }

  stderr(): string {
    return this.stderrTail.join("\n");
  }
}
