import { type EventBus, listen } from "../pubsub.js";

/**
 * The runs in progress on this instance, each with an AbortController that is aborted when the bus
 * reports its row CANCELLED (a cancel made on this instance). The three runners share it;
 * `cancelledId` says which run an update cancels, if any.
 */
export class CancelWatch<Update> {
  private readonly running = new Map<string, AbortController>();
  private readonly updates: AsyncIterableIterator<Update>;

  constructor(events: EventBus, topic: string, cancelledId: (update: Update) => string | null) {
    const updates = listen<Update>(events, topic);
    this.updates = updates;
    void (async () => {
      for await (const update of updates) {
        const id = cancelledId(update);
        if (id !== null) this.running.get(id)?.abort();
      }
    })();
  }

  /** A run starts here: its controller, aborted if it is cancelled before `finish(id)`. */
  start(id: string): AbortController {
    const controller = new AbortController();
    this.running.set(id, controller);
    return controller;
  }

  finish(id: string): void {
    this.running.delete(id);
  }

  /** Stops watching the bus (the server's shutdown); `abortRunning` also aborts what still runs. */
  async close(abortRunning: boolean): Promise<void> {
    if (abortRunning) for (const controller of this.running.values()) controller.abort();
    await this.updates.return?.();
  }
}
