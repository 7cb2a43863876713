import type { Router } from "zeromq";

/**
 * A zeromq 6 socket allows one pending send at a time (a second throws EBUSY), so every send
 * goes through this queue, drained by one loop.
 */
export class SocketWriter {
  private readonly queue: { frames: Buffer[]; resolve: () => void; reject: (error: unknown) => void }[] = [];
  private draining = false;

  constructor(private readonly socket: Router) {}

  send(frames: Buffer[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ frames, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    while (this.queue.length > 0) {
      const item = this.queue.shift()!;
      try {
        await this.socket.send(item.frames);
        item.resolve();
      } catch (error) {
        item.reject(error);
      }
    }
    this.draining = false;
  }
}
