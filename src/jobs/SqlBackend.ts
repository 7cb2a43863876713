import { type AgendaBackend, InMemoryNotificationChannel, type NotificationChannel } from "agenda";
import type { Database } from "../db/Database.js";
import { SqlJobRepository } from "./SqlJobRepository.js";

export interface SqlBackendOptions {
  /**
   * Where a job saved through this backend's Agenda is announced, so it starts at once instead of on
   * the next poll (`processEvery`): in-process by default, Redis across instances; `null`: none.
   */
  channel?: NotificationChannel | null;
}

/**
 * The embedded Agenda backend: jobs live in table `agenda_job` of the product's relational
 * database (SQLite by default, MySQL/MariaDB with DATABASE_URL). The Database belongs to the
 * application, so `agenda.stop()` leaves it open. One backend per Agenda instance: `agenda.stop()`
 * disconnects the notification channel.
 */
export class SqlBackend implements AgendaBackend {
  readonly name = "SQL";
  readonly repository: SqlJobRepository;
  readonly notificationChannel: NotificationChannel | undefined;
  readonly ownsConnection = false;

  constructor(database: Database, options: SqlBackendOptions = {}) {
    this.repository = new SqlJobRepository(database);
    this.notificationChannel = options.channel === null ? undefined : (options.channel ?? new InMemoryNotificationChannel({ channelName: "agenda:sql" }));
  }

  async connect(): Promise<void> {
    await this.repository.connect();
  }

  async disconnect(): Promise<void> {}
}
