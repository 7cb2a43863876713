import type { Router } from "zeromq";

type OnError = (error: unknown) => void;

/**
 * Every send on the pool's socket goes through here. A zeromq 6 socket allows one pending send:
 * while one waits (the socket was not writable, or zeromq deferred it so as not to starve the event
 * loop), another `send()` throws EBUSY synchronously. So a message is handed to zeromq at once when
 * nothing waits, which is nearly always (no Promise of our own, no await per message); after an
 * EBUSY, it and everything after it queue, in order, until the waiting send settles.
 */
export class SocketWriter {
  private readonly queue: { frames: Buffer[]; onError?: OnError }[] = [];
  /** The last send zeromq accepted: the only one that can still be waiting inside zeromq. */
  private last: Promise<void> = Promise.resolve();
  private blocked = false;

  constructor(private readonly socket: Router) {}

  /** Sends `frames` as one multipart message; `onError` hears why it could not be sent. */
  send(frames: Buffer[], onError?: OnError): void {
    if (this.blocked || !this.trySend(frames, onError)) {
      this.queue.push({ frames, onError });
      this.block();
    }
  }

  /** Pending sends (waiting for the socket), for tests and diagnostics. */
  get queued(): number {
    return this.queue.length;
  }

  /** False when the socket is busy with an earlier send (the caller queues); errors go to `onError`. */
  private trySend(frames: Buffer[], onError?: OnError): boolean {
    let sent: Promise<void>;
    try {
      sent = this.socket.send(frames);
    } catch (error) {
      if ((error as { code?: string }).code === "EBUSY") return false;
      // Closed socket, bad frames: reported asynchronously, as a failed send always was.
      if (onError) queueMicrotask(() => onError(error));
      return true;
    }
    this.last = sent;
    sent.then(undefined, onError ?? ignore);
    return true;
  }

  private block(): void {
    if (this.blocked) return;
    this.blocked = true;
    const waitFor = this.last;
    const resume = (): void => {
      if (this.flushQueue()) {
        this.blocked = false;
      } else if (this.last !== waitFor) {
        this.blocked = false;
        this.block(); // busy with one of the queued sends now: wait for that one
      } else {
        setImmediate(resume); // settled, yet still busy: try again next turn rather than spin
      }
    };
    void waitFor.then(resume, resume);
  }

  /** Sends what is queued, in order; false when the socket is busy again. */
  private flushQueue(): boolean {
    while (this.queue.length > 0) {
      const next = this.queue[0];
      if (!this.trySend(next.frames, next.onError)) return false;
      this.queue.shift();
    }
    return true;
  }
}

function ignore(): void {}
