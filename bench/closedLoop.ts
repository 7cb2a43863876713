import { type Summary, summarize } from "./support.js";

/** Closed-loop HTTP load for the execution benches: each client sends its next request when its answer arrives. */
export const EXECUTE = `mutation($p: ID!, $q: String!) {
  executeProgram(input: { programId: $p, inputs: { question: $q }, wait: true }) { status outputs }
}`;

export interface Target {
  name: string;
  /** One request; resolves true when the answer is right. */
  call(question: string): Promise<boolean>;
}

export interface Level {
  rps: number;
  latency: Summary;
  errors: number;
}

export async function closedLoop(target: Target, clients: number, seconds: number, record: boolean): Promise<Level> {
  const samples: number[] = [];
  let errors = 0;
  let next = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < until) {
        const question = `What is the capital of France? (request ${next++})`;
        const sent = performance.now();
        let ok = false;
        try {
          ok = await target.call(question);
        } catch {
          ok = false;
        }
        if (ok) samples.push(performance.now() - sent);
        else errors += 1;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { rps: record ? samples.length / elapsed : 0, latency: summarize(samples), errors };
}

/** `executeProgram(wait: true)` of the bench's program on a server: right when it COMPLETED with "Paris". */
export function executeTarget(name: string, url: string, programId: string): Target {
  return {
    name,
    async call(question) {
      const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: EXECUTE, variables: { p: programId, q: question } }) });
      const body = (await response.json()) as { data?: { executeProgram?: { status: string; outputs?: { answer?: string } } } };
      const execution = body.data?.executeProgram;
      return execution?.status === "COMPLETED" && execution.outputs?.answer === "Paris";
    },
  };
}

/** The FastAPI peer's /predict as a target: right when it answered "Paris". */
