import type { EntityManager } from "typeorm";
import { Dataset, Example, ExampleSplit } from "../../entities/index.js";
import { AuditLog } from "../audit/AuditLog.js";
import type { Database } from "../db/Database.js";
import { isUniqueViolation } from "../db/dialect.js";
import { findInScope } from "../db/scoped.js";
import { AppError } from "../errors.js";
import { isId } from "../ids.js";
import { type Page, type PageArgs, paginate } from "../pagination.js";
import type { Scope } from "../scope.js";
import { IssueList } from "../validation.js";
import { type ExampleFields, throwIfIssues, validateDatasetFields, validateExamples } from "./validateDatasetInput.js";

export interface CreateDataset {
  name: string;
  description?: string | null;
  examples?: ExampleFields[] | null;
}

export interface DatasetFilter {
  name?: string | null;
}

export class DatasetService {
  constructor(private readonly database: Database) {}

  get(scope: Scope, id: string, manager: EntityManager = this.database.manager): Promise<Dataset | null> {
    return findInScope(manager, Dataset, scope, id);
  }

  list(scope: Scope, filter: DatasetFilter | null | undefined, page: PageArgs): Promise<Page<Dataset>> {
    const query = this.database.manager.createQueryBuilder(Dataset, "d").where("d.tenantId = :tenantId", { tenantId: scope.tenantId });
    if (filter?.name) query.andWhere("d.name = :name", { name: filter.name });
    return paginate(query, page);
  }

  examples(scope: Scope, datasetId: string, split: ExampleSplit | null | undefined, page: PageArgs): Promise<Page<Example>> {
    const query = this.database.manager
      .createQueryBuilder(Example, "e")
      .where("e.tenantId = :tenantId AND e.datasetId = :datasetId", { tenantId: scope.tenantId, datasetId });
    if (split) query.andWhere("e.split = :split", { split });
    return paginate(query, page);
  }

  countExamples(scope: Scope, datasetId: string, split?: ExampleSplit | null): Promise<number> {
    return this.database.manager.countBy(Example, { tenantId: scope.tenantId, datasetId, ...(split ? { split } : {}) });
  }

  /** Creates the dataset and its first examples together: all or nothing. */
  async create(scope: Scope, input: CreateDataset): Promise<Dataset> {
    const issues = new IssueList();
    validateDatasetFields(input, issues);
    if (input.examples != null) validateExamples(input.examples, "input.examples", issues);
    throwIfIssues(issues);
    return this.database.transaction(async (manager) => {
      const dataset = manager.create(Dataset, { tenantId: scope.tenantId, name: input.name, description: input.description ?? null });
      await manager.save(dataset).catch((error: unknown) => {
        if (isUniqueViolation(error)) throw AppError.conflict("input.name: a dataset with this name already exists", "input.name");
        throw error;
      });
      const stored = await insertExamples(manager, scope, dataset.id, input.examples ?? []);
      await AuditLog.record(manager, scope, {
        action: "dataset.create",
        entityType: "Dataset",
        entityId: dataset.id,
        after: { ...AuditLog.snapshot(dataset, ["name", "description"]), exampleCount: stored.length },
      });
      return dataset;
    });
  }

  /** Adds a batch of examples: every one is validated first, and either all are stored or none. */
  async addExamples(scope: Scope, datasetId: string, examples: ExampleFields[]): Promise<{ dataset: Dataset; examples: Example[] }> {
    const issues = new IssueList();
    if (!isId(datasetId)) throw new AppError("NOT_FOUND", `input.datasetId: dataset '${datasetId}' not found`, { path: "input.datasetId" });
    validateExamples(examples, "input.examples", issues);
    if (Array.isArray(examples) && examples.length === 0) issues.add("input.examples", "must contain at least one example");
    throwIfIssues(issues);
    return this.database.transaction(async (manager) => {
      const dataset = await this.get(scope, datasetId, manager);
      if (!dataset) throw new AppError("NOT_FOUND", `input.datasetId: dataset '${datasetId}' not found`, { path: "input.datasetId" });
      const countBefore = await manager.countBy(Example, { tenantId: scope.tenantId, datasetId: dataset.id });
      const stored = await insertExamples(manager, scope, dataset.id, examples);
      await AuditLog.record(manager, scope, {
        action: "dataset.addExamples",
        entityType: "Dataset",
        entityId: dataset.id,
        before: { exampleCount: countBefore },
        after: { exampleCount: countBefore + stored.length },
      });
      return { dataset, examples: stored };
    });
  }
}

async function insertExamples(manager: EntityManager, scope: Scope, datasetId: string, examples: ExampleFields[]): Promise<Example[]> {
  if (examples.length === 0) return [];
  const entities = examples.map((example) =>
    manager.create(Example, {
      tenantId: scope.tenantId,
      datasetId,
      inputs: example.inputs,
      labels: example.labels ?? {},
      split: example.split ?? ExampleSplit.TRAIN,
    }),
  );
  // Chunked so a large batch stays under every driver's bound-parameter limit.
  return manager.save(entities, { chunk: 100 });
}
