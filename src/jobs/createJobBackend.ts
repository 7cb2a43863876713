import { MongoBackend } from "@agendajs/mongo-backend";
import { type AgendaBackend, InMemoryNotificationChannel, type JobLogger, type JobRepository, type NotificationChannel } from "agenda";
import type { RedisConnections } from "../redis.js";
import { RedisNotificationChannel } from "./RedisNotificationChannel.js";
import { MongoClient } from "mongodb";
import type { Database } from "../db/Database.js";
import { AppError } from "../errors.js";
import { guardLocalLocks } from "./guardLocalLocks.js";
import { withHolderSaves } from "./holder.js";
import { SqlBackend } from "./SqlBackend.js";

export interface JobBackendOptions {
  /** MONGO_URL: jobs in MongoDB (`agendaJobs` collection of the URL's database). Unset: the embedded SQL store. */
  mongoUrl?: string;
  /** The product's relational database; holds the jobs when there is no mongoUrl. */
  database: Database;
  /**
   * An in-process notification channel (default true): a job saved through this backend's Agenda
   * starts at once rather than on the next poll. It reaches this process only: other instances
   * find the job on their own poll (`processEvery`).
   */
  notifications?: boolean;
  /** With Redis (REDIS_URL) the notifications reach every instance, not just this one. */
  redis?: RedisConnections;
  /** How long to wait for MongoDB before giving up with BAD_CONFIG (default 5000 ms). */
  serverSelectionTimeoutMS?: number;
}

/**
 * The Agenda backend for this instance. Create one per Agenda instance (agenda.stop() disconnects
 * the backend's notification channel, and for MongoDB closes its client).
 *
 * With a mongoUrl, MongoDB is reached (and the job index created) before this resolves, so an
 * unreachable or unusable server is an AppError BAD_CONFIG (layer "scheduler") naming the URL
 * without credentials, and never an unhandled rejection from `new Agenda({ backend })`, which
 * connects the backend in its constructor without catching.
 */
export async function createJobBackend(options: JobBackendOptions): Promise<AgendaBackend> {
  const notifications = options.notifications ?? true;
  const channel = (name: string): NotificationChannel | undefined =>
    !notifications ? undefined : options.redis ? new RedisNotificationChannel(options.redis, name) : new InMemoryNotificationChannel({ channelName: `agenda:${name}` });
  if (!options.mongoUrl) return new SqlBackend(options.database, { channel: channel("sql") ?? null });
  return connectMongo(options.mongoUrl, channel("mongo"), options.serverSelectionTimeoutMS ?? 5000);
}

async function connectMongo(url: string, channel: NotificationChannel | undefined, timeoutMs: number): Promise<AgendaBackend> {
  const shown = redactMongoUrl(url);
  let client: MongoClient | undefined;
  try {
    client = new MongoClient(url, { serverSelectionTimeoutMS: timeoutMs, connectTimeoutMS: timeoutMs });
    await client.connect();
    await client.db().command({ ping: 1 });
  } catch (error) {
    await client?.close().catch(() => undefined);
    throw new AppError("BAD_CONFIG", `MONGO_URL: cannot reach MongoDB at ${shown} (waited ${timeoutMs} ms): ${reasonOf(error, url)}`, {
      layer: "scheduler",
      details: { url: shown },
    });
  }
  const inner = new MongoBackend({ mongo: client.db() });
  try {
    // Collection and index now, while a failure can still be reported as a configuration error.
    await inner.connect();
  } catch (error) {
    await client.close().catch(() => undefined);
    throw new AppError("BAD_CONFIG", `MONGO_URL: MongoDB at ${shown} refused to prepare the job collection: ${reasonOf(error, url)}`, {
      layer: "scheduler",
      details: { url: shown },
    });
  }
  return new ConnectedMongoBackend(client, inner, channel);
}

/** MongoBackend's collection (its default name). */
const JOBS_COLLECTION = "agendaJobs";

/**
 * MongoBackend over a client connected (and checked) beforehand, plus an optional in-process
 * notification channel (MongoBackend has none of its own). It owns the client: agenda.stop()
 * closes it.
 */
class ConnectedMongoBackend implements AgendaBackend {
  readonly name = "MongoDB";
  readonly ownsConnection = true;

  constructor(
    private readonly client: MongoClient,
    private readonly inner: MongoBackend,
    readonly notificationChannel: NotificationChannel | undefined,
  ) {}

  get repository(): JobRepository {
    this.guarded ??= guardLocalLocks(withHolderSaves(this.inner.repository, this.client.db().collection(JOBS_COLLECTION)));
    return this.guarded;
  }

  private guarded?: JobRepository;

  get logger(): JobLogger {
    return this.inner.logger;
  }

  /** Already connected by createJobBackend. */
  async connect(): Promise<void> {}

  async disconnect(): Promise<void> {
    await this.client.close();
  }
}

/** The URL without user name, password or query string (options may carry secrets too). */
export function redactMongoUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^@/?#]*@/i, "$1").replace(/[?#].*$/, "");
}

function reasonOf(error: unknown, url: string): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split(url).join(redactMongoUrl(url));
}
