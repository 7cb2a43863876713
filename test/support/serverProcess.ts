import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { LOOPBACK_EGRESS } from "./harness.js";

/** What output() keeps of the server's stdout and stderr, at least: their last 4 MB. */
const OUTPUT_KEPT = 4 * 1024 * 1024;
const MAIN = path.resolve(fileURLToPath(new URL(".", import.meta.url)), "../../src/main.js");

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** What the server wrote to stdout and stderr (the last 4 MB at least). */
  output(): string;
  /** SIGKILL to the server and everything it started (its process group), as when its machine dies. */
  kill(): Promise<void>;
  /** SIGTERM, then wait for it to exit. */
  stop(): Promise<number | null>;
}

/**
 * `node dist/src/main.js` with `env`, in a process group of its own; resolves once it listens.
 * SERVER_NODE_ARGS (space-separated) go to that node, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to
 * profile the server of a bench (NODE_OPTIONS does not take --cpu-prof).
 */
export async function startServerProcess(env: Record<string, string>, timeoutMs = 60_000): Promise<ServerProcess> {
  const nodeArgs = process.env.SERVER_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, MAIN], {
    // Development mode unless the caller configures authentication: these callers (executionRecovery,
    // bench/*) drive the API without credentials.
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", ...LOOPBACK_EGRESS, ...(Object.keys(env).some((name) => name.startsWith("AUTH_")) ? {} : { AUTH_DEV_MODE: "1" }), ...env },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  // The last OUTPUT_KEPT characters at least: a bench's server logs every execution for minutes.
  const keep = (chunk: Buffer) => {
    output += chunk;
    if (output.length > 2 * OUTPUT_KEPT) output = output.slice(-OUTPUT_KEPT);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  // "close", not "exit": by then everything it wrote has been read.
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const check = () => {
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        // Found once: matching the whole output again for every later chunk costs the caller (a bench's client) CPU that grows with the log.
        child.stdout?.off("data", check);
        resolve(match[1]);
      }
    };
    child.stdout?.on("data", check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`server exited with ${code} before listening:\n${output}`), { code, output }));
    });
  });
  return {
    url,
    child,
    output: () => output,
    async kill() {
      if (child.pid) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // The group is gone already.
        }
      }
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}

/** Runs main.js expecting it to fail at start; resolves with its exit code and output. */
export function failedStart(env: Record<string, string>, timeoutMs = 30_000): Promise<{ code: number | null; output: string }> {
  return startServerProcess(env, timeoutMs).then(
    async (server) => {
      await server.stop();
      throw new Error(`server started although it should not have:\n${server.output()}`);
    },
    (error: { code?: number | null; output?: string }) => {
      if (error.output === undefined) throw error;
      return { code: error.code ?? null, output: error.output };
    },
  );
}
