import { IsNull, Not, type EntityManager } from "typeorm";
import { Corpus, CorpusStatus, Document, Program, ProgramVersion } from "../../entities/index.js";
import { type CorpusDocumentVector, type CorpusHit, type CorpusSpec, type DspyAdapter, LOCAL_EMBEDDING_MODEL } from "../adapters/DspyAdapter.js";
import { AuditLog } from "../audit/AuditLog.js";
import { contentHash } from "../canonicalJson.js";
import type { Database } from "../db/Database.js";
import { isUniqueViolation } from "../db/dialect.js";
import { findInScope, requireInScope } from "../db/scoped.js";
import { AppError } from "../errors.js";
import { isId } from "../ids.js";
import { type Page, type PageArgs, paginate } from "../pagination.js";
import type { Scope } from "../scope.js";
import { IssueList } from "../validation.js";
import { CORPUS_LIMITS, type DocumentFields, validateCorpusFields, validateDocuments } from "./validateCorpusInput.js";

export interface CreateCorpus {
  name: string;
  description?: string | null;
  embeddingModel?: string | null;
}

export interface CorpusFilter {
  name?: string | null;
  nameContains?: string | null;
  status?: CorpusStatus | null;
}

/** Queues a corpus's embedding job (JobScheduler's `embed-corpus`). */
export interface CorpusEmbeddingQueue {
  enqueueCorpusEmbedding(data: { corpusId: string; tenantId: string }): Promise<void>;
}

/**
 * Corpora and their documents: create, add documents (all or nothing; the embedding job is queued
 * after the commit), delete, read; and what the workers need to search one (`searchSpec`).
 */
export class CorpusService {
  constructor(
    private readonly database: Database,
    private readonly queue: CorpusEmbeddingQueue,
    /** Searches run on a worker of this adapter (the executions' pool: a search is interactive). */
    private readonly adapter?: DspyAdapter,
  ) {}

  get(scope: Scope, id: string, manager: EntityManager = this.database.manager): Promise<Corpus | null> {
    return findInScope(manager, Corpus, scope, id);
  }

  list(scope: Scope, filter: CorpusFilter | null | undefined, page: PageArgs): Promise<Page<Corpus>> {
    const query = this.database.manager.createQueryBuilder(Corpus, "c").where("c.tenantId = :tenantId", { tenantId: scope.tenantId });
    if (filter?.name) query.andWhere("c.name = :name", { name: filter.name });
    if (filter?.nameContains) query.andWhere("LOWER(c.name) LIKE :pattern ESCAPE '!'", { pattern: `%${escapeLike(filter.nameContains.toLowerCase())}%` });
    if (filter?.status) query.andWhere("c.status = :status", { status: filter.status });
    return paginate(query, page);
  }

  documents(scope: Scope, corpusId: string, page: PageArgs): Promise<Page<Document>> {
    const query = this.database.manager
      .createQueryBuilder(Document, "d")
      .where("d.tenantId = :tenantId AND d.corpusId = :corpusId", { tenantId: scope.tenantId, corpusId });
    return paginate(query, page);
  }

  countDocuments(scope: Scope, corpusId: string, embeddedOnly = false): Promise<number> {
    return this.database.manager.countBy(Document, { tenantId: scope.tenantId, corpusId, ...(embeddedOnly ? { embeddedAt: Not(IsNull()) } : {}) });
  }

  async create(scope: Scope, input: CreateCorpus): Promise<Corpus> {
    const issues = new IssueList();
    validateCorpusFields(input, issues);
    if (!issues.empty) throw AppError.fromIssues(issues.issues);
    return this.database.transaction(async (manager) => {
      const corpus = manager.create(Corpus, {
        tenantId: scope.tenantId,
        name: input.name,
        description: input.description ?? null,
        embeddingModel: input.embeddingModel ?? LOCAL_EMBEDDING_MODEL,
        status: CorpusStatus.EMPTY,
        dims: null,
        error: null,
      });
      await manager.save(corpus).catch((error: unknown) => {
        if (isUniqueViolation(error)) throw AppError.conflict("input.name: a corpus with this name already exists", "input.name");
        throw error;
      });
      await AuditLog.record(manager, scope, { action: "corpus.create", entityType: "Corpus", entityId: corpus.id, after: AuditLog.snapshot(corpus, ["name", "description", "embeddingModel"]) });
      return corpus;
    });
  }

  /**
   * Adds a batch of documents: every one is checked first, and either all are stored or none. The
   * corpus becomes PENDING and its embedding job is queued once the documents are committed.
   */
  async addDocuments(scope: Scope, corpusId: string, documents: DocumentFields[]): Promise<{ corpus: Corpus; documents: Document[] }> {
    if (!isId(corpusId)) throw new AppError("NOT_FOUND", `input.corpusId: corpus '${corpusId}' not found`, { path: "input.corpusId" });
    const issues = new IssueList();
    validateDocuments(documents, "input.documents", issues);
    if (!issues.empty) throw AppError.fromIssues(issues.issues);
    const result = await this.database.transaction(async (manager) => {
      const corpus = await requireInScope(manager, Corpus, scope, corpusId, "input.corpusId", "corpus");
      const before = await manager.countBy(Document, { tenantId: scope.tenantId, corpusId: corpus.id });
      if (before + documents.length > CORPUS_LIMITS.maxDocumentsPerCorpus) {
        throw AppError.badInput("input.documents", `the corpus has ${before} documents; ${documents.length} more would pass the limit of ${CORPUS_LIMITS.maxDocumentsPerCorpus}`);
      }
      const entities = documents.map((d) =>
        manager.create(Document, { tenantId: scope.tenantId, corpusId: corpus.id, text: d.text, title: d.title ?? null, metadata: d.metadata ?? null, embedding: null, embeddedAt: null }),
      );
      // Chunked so a large batch stays under every driver's bound-parameter limit.
      const stored = await manager.save(entities, { chunk: 100 });
      // The update bumps `version`, so the corpus's hash changes and workers holding it are sent it again.
      await manager.update(Corpus, { id: corpus.id }, { status: CorpusStatus.PENDING, error: null });
      await AuditLog.record(manager, scope, { action: "corpus.addDocuments", entityType: "Corpus", entityId: corpus.id, before: { documentCount: before }, after: { documentCount: before + stored.length } });
      const updated = await manager.findOneByOrFail(Corpus, { id: corpus.id });
      return { corpus: updated, documents: stored };
    });
    await this.queue.enqueueCorpusEmbedding({ corpusId: corpusId, tenantId: scope.tenantId });
    return result;
  }

  /**
   * Deletes the corpus and its documents; a running embedding job finds it gone and stops. Returns its id.
   * Refused (CONFLICT) while a program version searches it: that version could not run any more.
   */
  async delete(scope: Scope, id: string): Promise<string> {
    return this.database.transaction(async (manager) => {
      const corpus = await requireInScope(manager, Corpus, scope, id, "id", "corpus");
      // The normalized program names it as {"corpusId": "<id>"} (a Retrieve module). A text match on the JSON,
      // with or without the space MySQL's JSON type prints after a colon; ids are UUIDs.
      const user = await manager
        .createQueryBuilder(ProgramVersion, "v")
        .innerJoin(Program, "p", "p.id = v.programId")
        .select(["p.name AS name", "v.number AS number"])
        .where("v.tenantId = :tenantId AND v.normalized LIKE :needle", { tenantId: scope.tenantId, needle: `%"corpusId":%"${corpus.id}"%` })
        .getRawOne<{ name: string; number: number }>();
      if (user) throw AppError.conflict(`corpus '${corpus.id}' is searched by version ${user.number} of program '${user.name}'; change or delete the program first`, "id");
      const documentCount = await manager.countBy(Document, { tenantId: scope.tenantId, corpusId: corpus.id });
      await manager.delete(Corpus, { id: corpus.id, tenantId: scope.tenantId });
      await AuditLog.record(manager, scope, {
        action: "corpus.delete",
        entityType: "Corpus",
        entityId: corpus.id,
        before: { ...AuditLog.snapshot(corpus, ["name", "description", "embeddingModel"]), documentCount },
      });
      return corpus.id;
    });
  }

  /** Top-k documents of the corpus for `query`, by the cosine of their embeddings (a READY corpus: its embedded documents). */
  async search(scope: Scope, input: SearchInput): Promise<CorpusHit[]> {
    const k = input.k ?? 5;
    const issues = new IssueList();
    if (!Number.isInteger(k) || k < 1 || k > MAX_SEARCH_K) issues.add("input.k", `must be an integer from 1 to ${MAX_SEARCH_K}, got ${k}`);
    if (typeof input.query !== "string" || input.query.trim() === "") issues.add("input.query", "must not be empty");
    else if (input.query.length > MAX_QUERY_CHARS) issues.add("input.query", `must be at most ${MAX_QUERY_CHARS} characters, got ${input.query.length}`);
    if (!issues.empty) throw AppError.fromIssues(issues.issues);
    if (!this.adapter) throw new AppError("UNAVAILABLE", "no adapter to search with", { layer: "worker", retriable: true });
    const corpus = await this.searchSpec(scope, input.corpusId, "input.corpusId");
    return this.adapter.searchCorpus({ corpus, query: input.query, k });
  }

  /**
   * What a worker needs to search the corpus (DspyAdapter `corpora`, `searchCorpus`): its hash changes
   * whenever the corpus does (`version` counts every change), and its embedded documents are read only
   * when a worker lacks them. NOT_FOUND at `path` for a corpus the scope cannot see.
   */
  async searchSpec(scope: Scope, corpusId: string, path = "corpusId"): Promise<CorpusSpec> {
    const corpus = isId(corpusId) ? await this.get(scope, corpusId) : null;
    if (!corpus) throw new AppError("NOT_FOUND", `${path}: corpus '${corpusId}' not found`, { path });
    return corpusSpec(this.database.manager, corpus);
  }
}

/** Highest `k` of a search (the worker's limit). */
export const MAX_SEARCH_K = 100;
const MAX_QUERY_CHARS = 10_000;

export interface SearchInput {
  corpusId: string;
  query: string;
  k?: number | null;
}

function escapeLike(value: string): string {
  return value.replace(/[!%_]/g, (c) => `!${c}`);
}

/** A corpus as the workers know it (see searchSpec). */
export function corpusSpec(manager: EntityManager, corpus: Corpus): CorpusSpec {
  return {
    corpusId: corpus.id,
    hash: contentHash({ model: corpus.embeddingModel, version: corpus.version }),
    model: corpus.embeddingModel,
    async documents(): Promise<CorpusDocumentVector[]> {
      const rows = await manager.find(Document, {
        select: { id: true, text: true, embedding: true },
        where: { tenantId: corpus.tenantId, corpusId: corpus.id, embeddedAt: Not(IsNull()) },
        order: { id: "ASC" },
      });
      return rows.filter((row) => row.embedding !== null).map((row) => ({ id: row.id, text: row.text, embedding: row.embedding as string }));
    },
  };
}
