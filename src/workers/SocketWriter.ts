import type { Router } from "zeromq";

type OnError = (error: unknown) => void;

/** Frames gathered for one peer, sent as one multipart message. */
interface Batch {
  frames: Buffer[];
  bytes: number;
  /** The distinct callbacks of the messages in it (the pool passes one per worker). */
  onErrors: OnError[];
}

// A batch is cut at either bound, so one large message never holds up many small ones for long.
const MAX_BATCH_FRAMES = 256;
const MAX_BATCH_BYTES = 1024 * 1024;

/**
 * Every send on the pool's ROUTER socket goes through here, addressed to a peer by its routing-id
 * frame.
 * - Batching: the first message of an event-loop turn is handed to zeromq at once, so a lone
 *   request waits for nothing. Messages after it in the same turn are gathered per peer and sent
 *   when the turn ends, as one multipart message with one protocol message per frame (PROTOCOL.md
 *   "Framing"). Under load that pays zeromq's per-message cost once per batch, on both sides.
 * - A zeromq 6 socket allows one pending send: while one waits (the socket was not writable, or
 *   zeromq deferred it so as not to starve the event loop), another `send()` throws EBUSY
 *   synchronously. After an EBUSY, everything waits, in order per peer, until that send settles.
 */
export class SocketWriter {
  /** Keyed by the routing-id Buffer object: the pool makes one per worker. */
  private readonly outbox = new Map<Buffer, Batch[]>();
  private turnOpen = false;
  /** The last send zeromq accepted: the only one that can still be waiting inside zeromq. */
  private last: Promise<void> = Promise.resolve();
  private blocked = false;
  private readonly endTurn = () => {
    this.turnOpen = false;
    if (!this.blocked && !this.flush()) this.block();
  };

  constructor(private readonly socket: Router) {}

  /** Sends `frame` to the peer `to`; `onError` hears why it could not be sent. */
  send(to: Buffer, frame: Buffer, onError?: OnError): void {
    if (!this.turnOpen) {
      this.turnOpen = true;
      setImmediate(this.endTurn);
      if (!this.blocked && this.outbox.size === 0) {
        if (this.trySend([to, frame], onError ? [onError] : [])) return;
        this.block();
      }
    }
    this.enqueue(to, frame, onError);
  }

  /** Messages not yet handed to zeromq, for tests and diagnostics. */
  get queued(): number {
    let count = 0;
    for (const batches of this.outbox.values()) for (const batch of batches) count += batch.frames.length;
    return count;
  }

  private enqueue(to: Buffer, frame: Buffer, onError?: OnError): void {
    let batches = this.outbox.get(to);
    if (!batches) this.outbox.set(to, (batches = []));
    let batch = batches.at(-1);
    if (!batch || batch.frames.length >= MAX_BATCH_FRAMES || batch.bytes + frame.length > MAX_BATCH_BYTES) {
      batch = { frames: [], bytes: 0, onErrors: [] };
      batches.push(batch);
    }
    batch.frames.push(frame);
    batch.bytes += frame.length;
    if (onError && !batch.onErrors.includes(onError)) batch.onErrors.push(onError);
  }

  /** False when the socket is busy with an earlier send (the caller waits); errors go to `onErrors`. */
  private trySend(frames: Buffer[], onErrors: OnError[]): boolean {
    let sent: Promise<void>;
    const fail = (error: unknown) => {
      for (const onError of onErrors) onError(error);
    };
    try {
      sent = this.socket.send(frames);
    } catch (error) {
      if ((error as { code?: string }).code === "EBUSY") return false;
      // Closed socket, bad frames: reported asynchronously, as a failed send always was.
      queueMicrotask(() => fail(error));
      return true;
    }
    this.last = sent;
    sent.then(undefined, fail);
    return true;
  }

  private block(): void {
    if (this.blocked) return;
    this.blocked = true;
    const waitFor = this.last;
    const resume = (): void => {
      if (this.flush()) {
        this.blocked = false;
      } else if (this.last !== waitFor) {
        this.blocked = false;
        this.block(); // busy with one of the batches just sent: wait for that one
      } else {
        setImmediate(resume); // settled, yet still busy: try again next turn rather than spin
      }
    };
    void waitFor.then(resume, resume);
  }

  /** Sends what the outbox holds, oldest batch first per peer; false when the socket is busy again. */
  private flush(): boolean {
    for (const [to, batches] of this.outbox) {
      while (batches.length > 0) {
        const batch = batches[0];
        if (!this.trySend([to, ...batch.frames], batch.onErrors)) return false;
        batches.shift();
      }
      this.outbox.delete(to);
    }
    return true;
  }
}
