import { IsNull, Not } from "typeorm";
import { Corpus, CorpusStatus, Document } from "../../entities/index.js";
import type { DspyAdapter } from "../adapters/DspyAdapter.js";
import type { Database } from "../db/Database.js";
import { AppError } from "../errors.js";
import type { EventBus } from "../pubsub.js";

/** Documents embedded per worker request: one `embed` of 64 short texts takes well under a second locally. */
export const EMBED_BATCH = 64;
/** Deadline of one batch on its worker (a hosted model may be slow). */
const BATCH_DEADLINE_MS = 120_000;
/** Retriable failures (worker died, rate limit, …) of one job before the corpus is FAILED. */
const MAX_RETRIES = 5;

export type EmbeddingOutcome = { done: true } | { done: false; retryInMs: number };

export const CORPUS_PROGRESS = "corpusProgress";

/** Published on the bus (topic CORPUS_PROGRESS; a `corpusUpdated` subscription can filter it by tenant and id) after every batch and at the end. */
export interface CorpusProgress {
  tenantId: string;
  corpusId: string;
  status: CorpusStatus;
  embedded: number;
  total: number;
}

/**
 * The `embed-corpus` job: embeds a corpus's documents that have no vector yet, in batches through
 * the worker pool, storing each batch's vectors as it comes (so progress is visible and a job that
 * dies loses at most one batch). Two jobs on the same corpus (documents added twice quickly) only
 * waste work: a vector is written only where none is yet.
 */
export class CorpusEmbeddingRunner {
  private readonly attempts = new Map<string, number>();

  constructor(
    private readonly database: Database,
    private readonly adapter: DspyAdapter,
    private readonly events?: EventBus,
  ) {}

  async run(corpusId: string, tenantId: string): Promise<EmbeddingOutcome> {
    const manager = this.database.manager;
    for (;;) {
      const corpus = await manager.findOneBy(Corpus, { id: corpusId, tenantId });
      if (!corpus) return { done: true }; // deleted meanwhile
      const batch = await manager.find(Document, {
        select: { id: true, text: true },
        where: { tenantId, corpusId, embeddedAt: IsNull() },
        order: { id: "ASC" },
        take: EMBED_BATCH,
      });
      if (batch.length === 0) {
        await this.finish(corpus, CorpusStatus.READY, null);
        return { done: true };
      }
      if (corpus.status !== CorpusStatus.EMBEDDING) await manager.update(Corpus, { id: corpusId }, { status: CorpusStatus.EMBEDDING, error: null });
      let vectors: string[];
      let dims: number;
      try {
        ({ vectors, dims } = await this.adapter.embed({ model: corpus.embeddingModel, texts: batch.map((d) => d.text), deadlineMs: BATCH_DEADLINE_MS }));
      } catch (error) {
        const failure = error instanceof AppError ? error : new AppError("INTERNAL_SERVER_ERROR", String(error), { layer: "worker" });
        const attempt = (this.attempts.get(corpusId) ?? 0) + 1;
        if (failure.retriable && attempt <= MAX_RETRIES) {
          this.attempts.set(corpusId, attempt);
          return { done: false, retryInMs: Math.min(1_000 * 2 ** (attempt - 1), 30_000) };
        }
        this.attempts.delete(corpusId);
        await this.finish(corpus, CorpusStatus.FAILED, { code: String(failure.code), layer: failure.layer, message: failure.message, retriable: failure.retriable, details: null });
        return { done: true };
      }
      this.attempts.delete(corpusId);
      if (corpus.dims !== null && corpus.dims !== dims) {
        await this.finish(corpus, CorpusStatus.FAILED, { code: "EMBEDDING_DIMS_CHANGED", layer: "worker", message: `the model returned ${dims} dimensions; the corpus has ${corpus.dims}`, retriable: false, details: null });
        return { done: true };
      }
      const now = new Date();
      await this.database.transaction(async (tx) => {
        for (let i = 0; i < batch.length; i++) {
          await tx.update(Document, { id: batch[i].id, embeddedAt: IsNull() }, { embedding: vectors[i], embeddedAt: now });
        }
        // Bumps `version`: the corpus's hash changes, so workers are sent the new vectors.
        await tx.update(Corpus, { id: corpusId }, { dims });
      });
      await this.publish(corpusId, tenantId, CorpusStatus.EMBEDDING);
    }
  }

  private async finish(corpus: Corpus, status: CorpusStatus, error: Corpus["error"]): Promise<void> {
    // `error` is a JSON column: TypeORM's deep-partial type does not see that a whole object is one value.
    if (corpus.status !== status || error !== null) await this.database.manager.update(Corpus, { id: corpus.id }, { status, error: error as never });
    await this.publish(corpus.id, corpus.tenantId, status);
  }

  private async publish(corpusId: string, tenantId: string, status: CorpusStatus): Promise<void> {
    if (!this.events) return;
    const [embedded, total] = await Promise.all([
      this.database.manager.countBy(Document, { tenantId, corpusId, embeddedAt: Not(IsNull()) }),
      this.database.manager.countBy(Document, { tenantId, corpusId }),
    ]);
    this.events.publish(CORPUS_PROGRESS, { tenantId, corpusId, status, embedded, total } satisfies CorpusProgress);
  }
}
