import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { ExecutionResult, FormattedExecutionResult } from "graphql";
import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginDrainHttpServer } from "@apollo/server/plugin/drainHttpServer";
import { ApolloServerPluginInlineTrace } from "@apollo/server/plugin/inlineTrace";
import { expressMiddleware } from "@as-integrations/express5";
import express from "express";
import { useServer } from "graphql-ws/use/ws";
import { sharedSubscribe } from "./graphql/sharedSubscribe.js";
import { WebSocketServer } from "ws";
import type { DspyAdapter } from "./adapters/DspyAdapter.js";
import { ApiKeyService } from "./auth/ApiKeyService.js";
import { Authenticator, type Credentials, credentialsFromConnectionParams, credentialsFromHeaders } from "./auth/Authenticator.js";
import type { Principal } from "./auth/roles.js";
import type { Config } from "./config.js";
import { AuditTrail } from "./audit/AuditTrail.js";
import { DatasetService } from "./datasets/DatasetService.js";
import { CorpusEmbeddingRunner } from "./corpora/CorpusEmbeddingRunner.js";
import { CorpusService } from "./corpora/CorpusService.js";
import { Database } from "./db/Database.js";
import { AppError, formatGraphQLError } from "./errors.js";
import { type GraphQLContext, type Services, requestIdOf, scopeFor } from "./graphql/context.js";
import { buildFederatedSchema } from "./graphql/schema.js";
import { EvaluationRunner } from "./evaluations/EvaluationRunner.js";
import { EvaluationService } from "./evaluations/EvaluationService.js";
import { EvaluationStateMachine } from "./evaluations/EvaluationStateMachine.js";
import { OptimizationRunner } from "./optimizations/OptimizationRunner.js";
import { OptimizationScheduleService } from "./optimizations/OptimizationScheduleService.js";
import { OptimizationService } from "./optimizations/OptimizationService.js";
import { OptimizationStateMachine } from "./optimizations/OptimizationStateMachine.js";
import { ExecutionReconciler } from "./executions/ExecutionReconciler.js";
import { ExecutionRunner } from "./executions/ExecutionRunner.js";
import { ExecutionService } from "./executions/ExecutionService.js";
import { BatchService } from "./executions/BatchService.js";
import { ExecutionStateMachine } from "./executions/ExecutionStateMachine.js";
import { createJobBackend } from "./jobs/createJobBackend.js";
import { EMBED_CORPUS, JobScheduler, type ScheduledOptimizations } from "./jobs/JobScheduler.js";
import { LanguageModelService } from "./languageModels/LanguageModelService.js";
import { graphqlShapedHttpErrors } from "./limits/httpErrors.js";
import { checkSubscribe, complexityLimitPlugin, depthLimitRule, tooManySubscriptions } from "./limits/queryLimits.js";
import { type ReadinessCheck, checkReadiness, liveness } from "./health.js";
import { introspectionPlugin } from "./limits/introspection.js";
import { ExecuteRateLimit } from "./limits/RateLimiter.js";
import { ProgramService } from "./programs/ProgramService.js";
import { sseHandler } from "./graphql/sseHandler.js";
import { createInProcessEventBus, createRedisEventBus } from "./pubsub.js";
import { MemoryOutputReplay, RedisOutputReplay } from "./executions/ExecutionOutput.js";
import { ExecutionOutputService } from "./executions/ExecutionOutputStream.js";
import { FeedbackService } from "./feedback/FeedbackService.js";
import { BudgetService } from "./budgets/BudgetService.js";
import { LmRateLimiter } from "./limits/LmRateLimiter.js";
import { connectRedis, redisReadiness, type RedisConnections } from "./redis.js";
import { createAdapter } from "./adapters/createAdapter.js";
import { graphqlTraceScope, graphqlTracingPlugin } from "./observability/graphqlTracing.js";
import { startTracing } from "./observability/tracing.js";
import { Observability, corsMiddleware, requestIdMiddleware, requestIdOfResponse } from "./observability/index.js";
import type { LoggerOptions } from "./observability/logger.js";
import { CONSOLE_PATH, consoleRoute } from "./console/consoleRoute.js";

export interface RunningServer {
  /** http://host:port/graphql */
  url: string;
  /** ws://host:port/graphql */
  wsUrl: string;
  port: number;
  database: Database;
  services: Services;
  /** Executions' adapter (their worker pool). */
  adapter: DspyAdapter;
  /** Evaluations' and optimizations' adapter: a pool of its own (OPTIMIZATION_WORKERS), or `adapter` when 0. */
  optimizationAdapter: DspyAdapter;
  jobs: JobScheduler;
  /** This server's logger and metrics registry. */
  observability: Observability;
  /** The job store actually used (`SQL`, `MongoDB`), as the startup line names it. */
  jobStore: string;
  stop(): Promise<void>;
}

/** What a caller may add to the configuration when it starts a server in-process (tests, benches). */
export interface ServerOptions {
  /** SQLite file (or `:memory:`) instead of DATA_DIR/subgraph.sqlite. */
  sqlitePath?: string;
  /** Where the JSON log lines go (default stdout). */
  logDestination?: LoggerOptions["destination"];
  /** Parts /readyz checks besides the database, the job store and the workers (Redis, when configured). */
  readinessChecks?: readonly ReadinessCheck[];
}

export const GRAPHQL_PATH = "/graphql";
/** How long a stopping instance lets running executions finish. */
const DRAIN_MS = 10_000;
/** The scope of a request without a principal: no row has this tenant (and every resolver refuses before reading). */
const NO_TENANT = "\u0000unauthenticated";
/** graphql-ws close code for a connection_init without valid credentials (README: "Authentication and roles"). */
export const WS_UNAUTHENTICATED = 4401;
const WS_GOING_AWAY = 1001;

/**
 * A graphql-ws connection's credentials: from connection_init's payload, else from the upgrade
 * request's headers (what a gateway propagating `authorization` to its subgraphs sends).
 */
function wsCredentials(ctx: { connectionParams?: Readonly<Record<string, unknown>>; extra: unknown }): Credentials {
  const fromParams = credentialsFromConnectionParams(ctx.connectionParams);
  if (fromParams.authorization !== undefined || fromParams.apiKey !== undefined) return fromParams;
  const request = (ctx.extra as { request?: http.IncomingMessage }).request;
  return request ? credentialsFromHeaders(request.headers) : fromParams;
}

/** A subscription's result as graphql-ws sends it: the same error shaping as HTTP (codes kept, internals never sent). */
function formatResult(result: ExecutionResult): FormattedExecutionResult {
  const { errors, ...rest } = result;
  return errors ? { ...rest, errors: errors.map((error) => formatGraphQLError(error.toJSON(), error)) } : rest;
}

/** Composes the subgraph: database, services, schema, HTTP and graphql-ws on one port. */
export async function startServer(config: Config & ServerOptions): Promise<RunningServer> {
  const observability = new Observability({ level: config.logLevel, destination: config.logDestination });
  const database = await Database.open({
    databaseUrl: config.databaseUrl,
    sqlitePath: config.sqlitePath ?? path.join(config.dataDir, "subgraph.sqlite"),
  });
  const closers: (() => Promise<void>)[] = [() => database.close()];
  // Off without OTEL_EXPORTER_OTLP_ENDPOINT; flushed after everything else has stopped (closers run in reverse).
  const tracing = startTracing(config.tracing?.otlpEndpoint);
  closers.push(() => tracing.shutdown());
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(observability.internalError("shutdown"));
  };
  let redisConnections: RedisConnections | undefined;
  let services: Services;
  let adapter: DspyAdapter;
  let optimizationAdapter: DspyAdapter;
  let jobs: JobScheduler;
  let jobStore: string;
  try {
    const redis = config.redisUrl ? await connectRedis(config.redisUrl) : undefined;
    redisConnections = redis;
    if (redis) closers.push(() => redis.close());
    const events = redis ? createRedisEventBus(redis) : createInProcessEventBus();
    const languageModels = new LanguageModelService(database, config.secrets, { secretEnv: config.secretEnv, egress: config.egress });
    const lmLimiter = new LmRateLimiter(redis, (error) => observability.logger.warn({ err: error }, "could not count a language model's tokens against its limit"));
    adapter = await createAdapter(config, observability.poolObserver("executions"), lmLimiter);
    const programs = new ProgramService(database, languageModels, events, adapter);
    const started = adapter;
    closers.push(() => started.close());
    // Evaluations and optimizations run on workers of their own, so a long optimization never holds a
    // worker executions wait for. Closed after the jobs and runners (closers run in reverse).
    const { workers: optimizationWorkers, workerBind: optimizationBind } = config.optimizations;
    if (optimizationWorkers > 0 || optimizationBind !== undefined) {
      optimizationAdapter = await createAdapter({
        adapter: config.adapter,
        dataDir: config.dataDir,
        workers: { count: optimizationWorkers, concurrency: config.workers.concurrency, bind: optimizationBind },
        secrets: config.secrets,
        secretEnv: config.secretEnv,
        egress: config.egress,
      }, observability.poolObserver("optimizations"), lmLimiter);
      const own = optimizationAdapter;
      closers.push(() => own.close());
    } else {
      optimizationAdapter = adapter;
    }
    const stateMachine = new ExecutionStateMachine(database, events);
    observability.observeExecutions(stateMachine);
    // Next to the bus: a late subscriber reads the output of an attempt running on any instance.
    const outputReplay = redis ? new RedisOutputReplay(redis.commands, (error) => observability.logger.warn({ err: error }, "could not keep an execution's output for late subscribers")) : new MemoryOutputReplay();
    const budgets = new BudgetService(database);
    const runner = new ExecutionRunner(
      { database, stateMachine, adapter, events, output: outputReplay, prices: languageModels.prices, budgets, languageModels },
      { ...config.executions, leaseMs: config.jobs.lockLifetimeMs },
    );
    closers.push(() => runner.close());
    const backend = await createJobBackend({ mongoUrl: config.mongoUrl, database, notifications: config.jobs.notifications, ...(redis ? { redis } : {}) });
    jobStore = backend.name;
    const evaluationStates = new EvaluationStateMachine(database, events);
    observability.observeRuns(evaluationStates);
    const evaluationRunner = new EvaluationRunner(database, evaluationStates, optimizationAdapter, events, { ...config.evaluations, leaseMs: config.jobs.lockLifetimeMs }, languageModels.prices, budgets);
    closers.push(() => evaluationRunner.close());
    const optimizationStates = new OptimizationStateMachine(database, events);
    observability.observeRuns(optimizationStates);
    const optimizationRunner = new OptimizationRunner(database, optimizationStates, optimizationAdapter, events, { ...config.optimizations, leaseMs: config.jobs.lockLifetimeMs }, languageModels.prices, budgets);
    closers.push(() => optimizationRunner.close());
    const scheduled: ScheduledOptimizations = {};
    // Embedding is background work: on the evaluations' and optimizations' pool, one job at a time per instance.
    const corpusEmbedding = new CorpusEmbeddingRunner(database, optimizationAdapter, events);
    const embedCorpus = { name: EMBED_CORPUS, concurrency: 1, handler: (data: Record<string, unknown>) => corpusEmbedding.run(String(data.corpusId), String(data.tenantId)) };
    jobs = await JobScheduler.start(
      backend,
      runner,
      { ...config.jobs, evaluationConcurrency: config.evaluations.concurrency, optimizationConcurrency: config.optimizations.concurrency },
      evaluationRunner,
      optimizationRunner,
      scheduled,
      [embedCorpus],
    );
    const scheduler = jobs;
    observability.observeJobs(jobs);
    observability.measureQueue(database);
    closers.push(() => scheduler.stop(DRAIN_MS));
    // Stopped before the jobs (closers run in reverse).
    const reconciler = new ExecutionReconciler(database, jobs, { intervalMs: config.executions.reconcileMs, staleMs: config.jobs.lockLifetimeMs });
    reconciler.start();
    closers.push(() => reconciler.stop());
    const datasets = new DatasetService(database);
    const optimizations = new OptimizationService(database, programs, datasets, languageModels, optimizationStates, jobs, budgets);
    const optimizationSchedules = new OptimizationScheduleService(database, programs, optimizations, jobs, events);
    observability.observeSchedules(optimizationSchedules);
    scheduled.runScheduled = (scheduleId, tenantId) => optimizationSchedules.runScheduled(scheduleId, tenantId);
    // Closed before the jobs stop (closers run in reverse): no promotion starts while shutting down.
    closers.push(() => optimizationSchedules.close());
    const executions = new ExecutionService(database, programs, stateMachine, jobs, events, config.executions, budgets);
    const feedback = new FeedbackService(database, programs);
    observability.observeFeedback(feedback);
    services = {
      languageModels,
      programs,
      datasets,
      executions,
      batches: new BatchService(database, executions, stateMachine, events),
      evaluations: new EvaluationService(database, programs, datasets, languageModels, evaluationStates, jobs, budgets),
      optimizations,
      optimizationSchedules,
      corpora: new CorpusService(database, jobs, adapter),
      apiKeys: new ApiKeyService(database, events),
      audit: new AuditTrail(database),
      events,
      feedback,
      budgets,
      outputs: new ExecutionOutputService(events, outputReplay, executions, config.limits.subscriberBufferBytes),
      executeRateLimit: new ExecuteRateLimit(config.limits.executeRate, redis),
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
  const { events } = services;
  const schema = await buildFederatedSchema(events);
  const authenticator = Authenticator.create(config.auth, config.defaultTenant, services.apiKeys);
  /** The principal, or the UNAUTHENTICATED error that says why there is none (other failures propagate). */
  const authenticate = async (credentials: Credentials): Promise<{ principal: Principal | null; error?: AppError }> => {
    try {
      return { principal: await authenticator.authenticate(credentials) };
    } catch (error) {
      if (error instanceof AppError && error.code === "UNAUTHENTICATED") return { principal: null, error };
      throw error;
    }
  };
  const contextFor = async (credentials: Credentials, requestId: string): Promise<GraphQLContext> => {
    const { principal, error } = await authenticate(credentials);
    return {
      scope: scopeFor(principal, requestId, NO_TENANT),
      requestId,
      services,
      principal,
      authError: error,
    };
  };

  const app = express();
  // No ETag on res.send's answers (GraphQL, health, metrics): a SHA-1 of every response body for a
  // conditional GET nobody makes here; the console's static files keep theirs (express.static's own).
  app.set("etag", false);
  const httpServer = http.createServer(app);
  const { limits } = config;
  // MAX_REQUEST_BYTES (default above the 1 MiB limit on execution inputs, so that limit answers with
  // its own clear error) bounds HTTP bodies and graphql-ws messages alike.
  const countSubscription = observability.subscriptionCounter("ws");
  // One execution per event for every subscriber with the same operation and rights (graphql-ws and SSE);
  // for a broadcast field over graphql-ws, also one source and one serialization, written to each socket directly.
  const subscribe = sharedSubscribe({ formatResult, slowSubscriberBytes: limits.subscriberBufferBytes });
  const wsServer = new WebSocketServer({ server: httpServer, path: GRAPHQL_PATH, maxPayload: limits.maxRequestBytes });
  const wsCleanup = useServer(
    {
      schema,
      subscribe,
      // connection_init must carry credentials ({ authorization } or { "x-api-key" }); without valid
      // ones the socket is closed with 4401 and the reason, before any operation runs.
      onConnect: async (ctx) => {
        const { principal, error } = await authenticate(wsCredentials(ctx));
        if (principal) return true;
        const reason = `UNAUTHENTICATED: ${error?.message ?? "not authenticated"}`;
        ctx.extra.socket.close(WS_UNAUTHENTICATED, Buffer.from(reason).subarray(0, 123).toString());
        return false;
      },
      // The same depth and complexity limits as HTTP, before anything runs.
      // At most MAX_SUBSCRIPTIONS_PER_CONNECTION operations open on one connection (this one counted);
      // completing one frees its place.
      onSubscribe: (ctx, _id, payload) =>
        Object.keys(ctx.subscriptions).length > limits.maxSubscriptionsPerConnection
          ? [tooManySubscriptions(limits.maxSubscriptionsPerConnection)]
          : checkSubscribe(schema, { maxDepth: limits.maxQueryDepth, maxComplexity: limits.maxQueryComplexity }, payload),
      // Authenticated again for every subscription, so a key revoked or a token expired since is refused.
      context: async (ctx, id) => {
        const { socket, request } = ctx.extra;
        const prefix = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
        return {
          ...(await contextFor(wsCredentials(ctx), requestIdOf(undefined))),
          unsent: () => socket.bufferedAmount,
          // The messages graphql-ws would send, around payloads serialized once for many subscribers;
          // corked, so that several go out in one write (request.socket is the connection's TCP socket).
          sendNext: (payloadsJson: readonly string[]) => {
            if (socket.readyState !== socket.OPEN) return;
            request.socket.cork();
            for (const payload of payloadsJson) socket.send(`${prefix}${payload}}`);
            request.socket.uncork();
          },
        };
      },
      // Counted in dspy_graphql_subscriptions_open until it ends, however it ends.
      onOperation: (_ctx, _id, _payload, _args, result) => countSubscription(result),
      // The same error shaping as HTTP: codes kept, internals never sent.
      onError: (_ctx, _id, _payload, errors) => errors.map((error) => formatGraphQLError(error.toJSON(), error)),
      onNext: (_ctx, _id, _payload, _args, result) => formatResult(result),
    },
    wsServer,
  );

  const apollo = new ApolloServer<GraphQLContext>({
    schema,
    formatError: formatGraphQLError,
    includeStacktraceInErrorResponses: false,
    validationRules: [depthLimitRule(limits.maxQueryDepth)],
    // main.ts owns the signals: Apollo's own handler would stop only Apollo, then re-raise the signal.
    stopOnTerminationSignals: false,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      complexityLimitPlugin(limits.maxQueryComplexity),
      introspectionPlugin(limits.introspection),
      // One log line and the request series per operation (src/observability).
      observability.requestPlugin(),
      // Federated traces for a gateway that asks for them; errors in them are masked like responses.
      ApolloServerPluginInlineTrace({ includeErrors: { masked: true } }),
      graphqlTracingPlugin(),
      { async serverWillStart() { return { async drainServer() { await wsCleanup.dispose(); } }; } },
    ],
  });
  await apollo.start();

  // CORS_ORIGINS: preflights answered here (204), before anything else sees them; unset, no CORS headers.
  if (config.corsOrigins) app.use(corsMiddleware(config.corsOrigins));
  // Liveness: the process serves. Readiness: the parts it needs answer (README: "Operating", "Health").
  app.get("/healthz", (_req, res) => {
    res.json(liveness());
  });
  app.get("/readyz", async (_req, res) => {
    const extraChecks = [...(config.readinessChecks ?? []), ...(redisConnections ? [redisReadiness(redisConnections)] : [])];
    const report = await checkReadiness({ database, jobs, adapter, optimizationAdapter, extraChecks });
    res.status(report.status === "ok" ? 200 : 503).json(report);
  });
  app.get("/metrics", observability.metricsHandler());
  // The web console's static files (console/, built into dist/console); it calls /graphql like any client.
  app.use(CONSOLE_PATH, consoleRoute());
  const requestContext = (req: express.Request) => contextFor(credentialsFromHeaders(req.headers), req.res ? requestIdOfResponse(req.res) : requestIdOf(undefined));
  app.use(
    GRAPHQL_PATH,
    requestIdMiddleware(),
    express.json({ limit: limits.maxRequestBytes }),
    graphqlTraceScope(),
    sseHandler(schema, { maxDepth: limits.maxQueryDepth, maxComplexity: limits.maxQueryComplexity }, requestContext, subscribe, observability.subscriptionCounter("sse")),
    expressMiddleware(apollo, {
      context: async ({ req, res }) => contextFor(credentialsFromHeaders(req.headers), requestIdOfResponse(res)),
    }),
  );
  // REQUEST_TOO_LARGE (413) and BAD_REQUEST (malformed JSON) as GraphQL-shaped JSON, never express's HTML page.
  app.use(graphqlShapedHttpErrors(limits.maxRequestBytes, observability.internalError("http")));

  try {
    await new Promise<void>((resolve, reject) => {
      httpServer.once("error", reject);
      httpServer.listen(config.port, config.host, () => resolve());
    });
  } catch (error) {
    await apollo.stop();
    await closeAll();
    throw error;
  }
  const { port } = httpServer.address() as AddressInfo;
  const host = config.host === "0.0.0.0" ? "127.0.0.1" : config.host;

  let stopping: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}${GRAPHQL_PATH}`,
    wsUrl: `ws://${host}:${port}${GRAPHQL_PATH}`,
    port,
    database,
    services,
    adapter,
    optimizationAdapter,
    jobs,
    observability,
    jobStore,
    stop() {
      stopping ??= (async () => {
        // 1001 Going Away: clients see a server leaving (and reconnect elsewhere), not a dropped socket.
        // Whoever has not closed after a second is cut off.
        for (const client of wsServer.clients) client.close(WS_GOING_AWAY, "the server is shutting down");
        await new Promise<void>((resolve) => {
          const deadline = setTimeout(resolve, 1_000);
          const check = setInterval(() => {
            if (wsServer.clients.size === 0) (clearInterval(check), clearTimeout(deadline), resolve());
          }, 20);
          deadline.unref?.();
          setTimeout(() => clearInterval(check), 1_100).unref?.();
        });
        for (const client of wsServer.clients) client.terminate();
        await apollo.stop();
        // Jobs first (they use the workers), then the workers, then the database.
        await closeAll();
      })();
      return stopping;
    },
  };
}
