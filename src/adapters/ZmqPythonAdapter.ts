import { AppError } from "../errors.js";
import { EMPTY_KEYRING, type SecretKeyring } from "../secrets/SecretBox.js";
import type { WorkerLease, WorkerPool } from "../workers/WorkerPool.js";
import type { AdapterHealth, CompileRequest, CompileResult, DspyAdapter, EvaluateRequest, EvaluateResult, ExecuteRequest, ExecuteResult, ImportStateResult, LanguageModelSpec } from "./DspyAdapter.js";
import { lmKey, lmWireConfig, programHash } from "./lmWireConfig.js";

const DEFAULT_DEADLINE_MS = 120_000;

/**
 * Real DSPy through the worker pool. Each execution holds one worker; a worker that does not know
 * the program version or the LM (new, or restarted) is sent them first: rehydration.
 */
export class ZmqPythonAdapter implements DspyAdapter {
  readonly name = "zmq-python";

  /** `keyring` decrypts stored API keys, one request at a time (lmWireConfig). */
  constructor(
    private readonly pool: WorkerPool,
    private readonly keyring: SecretKeyring = EMPTY_KEYRING,
  ) {}

  async configure(lm: LanguageModelSpec): Promise<void> {
    const config = lmWireConfig(lm, process.env, this.keyring);
    const key = lmKey(lm, config);
    await this.pool.withWorker(DEFAULT_DEADLINE_MS, async (lease) => {
      await lease.request("configure_lm", { lm_key: key, config });
      lease.remember(key);
    });
  }

  async execute(request: ExecuteRequest): Promise<ExecuteResult> {
    const config = lmWireConfig(request.lm, process.env, this.keyring);
    const keys = {
      lm: lmKey(request.lm, config),
      hash: programHash(request.program.definition, request.program.compiledState),
    };
    const programKey = `program:${request.program.versionId}:${keys.hash}`;
    const ensure = async (lease: WorkerLease) => {
      if (!lease.knows(keys.lm)) {
        await lease.request("configure_lm", { lm_key: keys.lm, config });
        lease.remember(keys.lm);
      }
      if (!lease.knows(programKey)) {
        await lease.request("define_program", {
          version_id: request.program.versionId,
          hash: keys.hash,
          definition: request.program.definition,
          compiled_state: request.program.compiledState ?? null,
        });
        lease.remember(programKey);
      }
    };
    const run = (lease: WorkerLease) =>
      lease.request<ExecuteResult>("run", { version_id: request.program.versionId, hash: keys.hash, lm_key: keys.lm, inputs: request.inputs });

    return this.pool.withWorker(request.deadlineMs ?? DEFAULT_DEADLINE_MS, async (lease) => {
      await ensure(lease);
      try {
        return await run(lease);
      } catch (error) {
        // The worker forgot (evicted, or restarted between our bookkeeping and the run): once more.
        if (!(error instanceof AppError) || (error.code !== "UNKNOWN_PROGRAM" && error.code !== "UNKNOWN_LM")) throw error;
        lease.forget(error.code === "UNKNOWN_PROGRAM" ? programKey : keys.lm);
        await ensure(lease);
        return run(lease);
      }
    });
  }

  /**
   * `evaluate` on one worker: the program and LM (and a judge's LM) rehydrated as for `run`, the
   * worker's `progress` messages passed to `onProgress`, and `signal` turned into the worker's `cancel`.
   */
  async evaluate(request: EvaluateRequest): Promise<EvaluateResult> {
    const config = lmWireConfig(request.lm, process.env, this.keyring);
    const lm = lmKey(request.lm, config);
    const hash = programHash(request.program.definition, request.program.compiledState);
    const programKey = `program:${request.program.versionId}:${hash}`;
    const judge = request.metric.judge;
    const judgeConfig = judge ? lmWireConfig(judge.lm, process.env, this.keyring) : null;
    const judgeKey = judge && judgeConfig ? lmKey(judge.lm, judgeConfig) : null;
    const ensure = async (lease: WorkerLease) => {
      for (const [key, lmConfig] of [[lm, config], [judgeKey, judgeConfig]] as const) {
        if (key === null || lease.knows(key)) continue;
        await lease.request("configure_lm", { lm_key: key, config: lmConfig });
        lease.remember(key);
      }
      if (!lease.knows(programKey)) {
        await lease.request("define_program", {
          version_id: request.program.versionId,
          hash,
          definition: request.program.definition,
          compiled_state: request.program.compiledState ?? null,
        });
        lease.remember(programKey);
      }
    };
    const { judge: _judge, ...spec } = request.metric;
    const metric = judge && judgeKey ? { ...spec, judge: { definition: judge.definition, lm_key: judgeKey, score: judge.score, inputs: judge.inputs } } : spec;
    const payload = {
      version_id: request.program.versionId,
      hash,
      lm_key: lm,
      examples: request.examples,
      metric,
      ...(request.numThreads != null ? { num_threads: request.numThreads } : {}),
    };
    const onProgress = request.onProgress;
    const options = {
      signal: request.signal,
      onProgress: onProgress ? (p: { phase: string; done: number; total: number | null }) => onProgress({ phase: p.phase, done: p.done, total: p.total }) : undefined,
    };
    const evaluate = (lease: WorkerLease) => {
      // Aborted before it was sent: a fast evaluation could finish before the worker reads a `cancel`.
      if (request.signal?.aborted) throw new AppError("CANCELLED", "the evaluation was cancelled before it started", { layer: "worker" });
      return lease.request<EvaluateResult>("evaluate", payload, options);
    };
    const result = await this.pool.withWorker(request.deadlineMs ?? DEFAULT_DEADLINE_MS, async (lease) => {
      await ensure(lease);
      try {
        return await evaluate(lease);
      } catch (error) {
        if (!(error instanceof AppError) || (error.code !== "UNKNOWN_PROGRAM" && error.code !== "UNKNOWN_LM")) throw error;
        const forgotten = error.code === "UNKNOWN_PROGRAM" ? programKey : typeof error.details?.lm_key === "string" ? error.details.lm_key : lm;
        lease.forget(forgotten);
        if (error.code === "UNKNOWN_LM") lease.forget(lm);
        await ensure(lease);
        return evaluate(lease);
      }
    });
    return { score: result.score, results: result.results };
  }

  /**
   * `compile` on one worker, as `evaluate`: the program, its LM (and GEPA's reflection LM, and a
   * judge's) rehydrated first, `progress` passed to `onProgress`, `signal` sent as `cancel`.
   */
  async compile(request: CompileRequest): Promise<CompileResult> {
    const config = lmWireConfig(request.lm, process.env, this.keyring);
    const lm = lmKey(request.lm, config);
    const hash = programHash(request.program.definition, request.program.compiledState);
    const programKey = `program:${request.program.versionId}:${hash}`;
    const lms: [string, unknown][] = [[lm, config]];
    let reflectionKey: string | null = null;
    if (request.reflectionLm) {
      const reflectionConfig = lmWireConfig(request.reflectionLm, process.env, this.keyring);
      reflectionKey = lmKey(request.reflectionLm, reflectionConfig);
      lms.push([reflectionKey, reflectionConfig]);
    }
    const judge = request.metric.judge;
    let judgeKey: string | null = null;
    if (judge) {
      const judgeConfig = lmWireConfig(judge.lm, process.env, this.keyring);
      judgeKey = lmKey(judge.lm, judgeConfig);
      lms.push([judgeKey, judgeConfig]);
    }
    const ensure = async (lease: WorkerLease) => {
      for (const [key, lmConfig] of lms) {
        if (lease.knows(key)) continue;
        await lease.request("configure_lm", { lm_key: key, config: lmConfig });
        lease.remember(key);
      }
      if (!lease.knows(programKey)) {
        await lease.request("define_program", {
          version_id: request.program.versionId,
          hash,
          definition: request.program.definition,
          compiled_state: request.program.compiledState ?? null,
        });
        lease.remember(programKey);
      }
    };
    const { judge: _judge, ...spec } = request.metric;
    const metric = judge && judgeKey ? { ...spec, judge: { definition: judge.definition, lm_key: judgeKey, score: judge.score, inputs: judge.inputs } } : spec;
    const payload = {
      version_id: request.program.versionId,
      hash,
      lm_key: lm,
      optimizer: request.optimizer,
      config: request.config,
      trainset: request.trainset,
      ...(request.devset && request.devset.length > 0 ? { devset: request.devset } : {}),
      metric,
      ...(reflectionKey ? { reflection_lm_key: reflectionKey } : {}),
      ...(request.seed != null ? { seed: request.seed } : {}),
    };
    const onProgress = request.onProgress;
    const options = {
      signal: request.signal,
      onProgress: onProgress
        ? (p: { phase: string; done: number; trials?: number; best_score?: number | null; metric_calls?: number }) =>
            onProgress({ phase: p.phase, done: p.done, trials: p.trials ?? 0, bestScore: p.best_score ?? null, metricCalls: p.metric_calls ?? p.done })
        : undefined,
    };
    interface Wire {
      compiled_state: Record<string, unknown>;
      dspy_state: Record<string, unknown>;
      score: number;
      scored_on: "devset" | "trainset";
      trials: number;
      best_trial_score: number | null;
      metric_calls: number;
      compile_ms: number;
    }
    const compile = (lease: WorkerLease) => {
      if (request.signal?.aborted) throw new AppError("CANCELLED", "the optimization was cancelled before it started", { layer: "worker" });
      return lease.request<Wire>("compile", payload, options);
    };
    const result = await this.pool.withWorker(request.deadlineMs ?? DEFAULT_DEADLINE_MS, async (lease) => {
      await ensure(lease);
      try {
        return await compile(lease);
      } catch (error) {
        if (!(error instanceof AppError) || (error.code !== "UNKNOWN_PROGRAM" && error.code !== "UNKNOWN_LM")) throw error;
        if (error.code === "UNKNOWN_PROGRAM") lease.forget(programKey);
        else for (const [key] of lms) lease.forget(key);
        await ensure(lease);
        return compile(lease);
      }
    });
    return {
      compiledState: result.compiled_state,
      dspyState: result.dspy_state,
      score: result.score,
      scoredOn: result.scored_on,
      trials: result.trials,
      bestTrialScore: result.best_trial_score,
      metricCalls: result.metric_calls,
      compileMs: result.compile_ms,
    };
  }

  async importState(definition: unknown, state: unknown): Promise<ImportStateResult> {
    const result = await this.pool.request<{ compiled_state: Record<string, unknown>; predictors: string[] }>("import_state", { definition, state }, DEFAULT_DEADLINE_MS);
    return { compiledState: result.compiled_state, predictors: result.predictors };
  }

  async health(): Promise<AdapterHealth> {
    const workers = this.pool.info();
    const ready = workers.filter((w) => w.ready).length;
    let pingMs: number | null = null;
    if (ready > 0) {
      const started = performance.now();
      await this.pool.request("ping", {}, 5_000);
      pingMs = performance.now() - started;
    }
    return { ok: ready > 0, details: { workers, ready, queued: this.pool.queued, pingMs } };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
