import type { EntityManager } from "typeorm";
import { LanguageModel } from "../../entities/index.js";
import type { Database } from "../db/Database.js";
import { isUniqueViolation } from "../db/dialect.js";
import { updateAtVersion } from "../db/rows.js";
import { AppError } from "../errors.js";
import { isId } from "../ids.js";
import { type Page, type PageArgs, paginate } from "../pagination.js";
import type { Scope } from "../scope.js";
import { DUMMY_MODEL, type LanguageModelFields, validateDummyConfig, validateLanguageModelInput } from "./validateLanguageModelInput.js";

export interface CreateLanguageModel extends LanguageModelFields {
  name: string;
  model: string;
}

export interface UpdateLanguageModel extends LanguageModelFields {
  id: string;
  expectedVersion?: number | null;
}

export interface LanguageModelFilter {
  name?: string | null;
  model?: string | null;
}

const UPDATABLE = ["name", "model", "apiBase", "temperature", "maxTokens", "cache", "secretEnv", "config"] as const;

export class LanguageModelService {
  constructor(private readonly database: Database) {}

  async get(scope: Scope, id: string, manager: EntityManager = this.database.manager): Promise<LanguageModel | null> {
    if (!isId(id)) return null;
    return manager.findOneBy(LanguageModel, { id, tenantId: scope.tenantId });
  }

  async require(scope: Scope, id: string, path: string, manager?: EntityManager): Promise<LanguageModel> {
    const model = await this.get(scope, id, manager);
    if (!model) throw new AppError("NOT_FOUND", `${path}: language model '${id}' not found`, { path });
    return model;
  }

  list(scope: Scope, filter: LanguageModelFilter | null | undefined, page: PageArgs): Promise<Page<LanguageModel>> {
    const query = this.database.manager.createQueryBuilder(LanguageModel, "lm").where("lm.tenantId = :tenantId", { tenantId: scope.tenantId });
    if (filter?.name) query.andWhere("lm.name = :name", { name: filter.name });
    if (filter?.model) query.andWhere("lm.model = :model", { model: filter.model });
    return paginate(query, page);
  }

  async create(scope: Scope, input: CreateLanguageModel): Promise<LanguageModel> {
    validateLanguageModelInput(input, "create");
    if (input.model === DUMMY_MODEL) validateDummyConfig(input.config);
    const entity = this.database.manager.create(LanguageModel, {
      tenantId: scope.tenantId,
      name: input.name,
      model: input.model,
      apiBase: input.apiBase ?? null,
      temperature: input.temperature ?? null,
      maxTokens: input.maxTokens ?? null,
      cache: input.cache ?? true,
      secretEnv: input.secretEnv ?? null,
      config: input.config ?? null,
    });
    return this.database.transaction((manager) => saveUnique(manager, entity));
  }

  async update(scope: Scope, input: UpdateLanguageModel): Promise<LanguageModel> {
    validateLanguageModelInput(input, "update");
    return this.database.transaction(async (manager) => {
      const current = await this.require(scope, input.id, "input.id", manager);
      if (input.expectedVersion != null && input.expectedVersion !== current.version) {
        throw AppError.conflict(`language model '${current.id}' is at version ${current.version}, not ${input.expectedVersion}`, "input.expectedVersion");
      }
      const changes: Partial<LanguageModel> = {};
      for (const key of UPDATABLE) {
        if (input[key] !== undefined) (changes as Record<string, unknown>)[key] = input[key];
      }
      if (changes.cache === null) changes.cache = true;
      if (Object.keys(changes).length === 0) return current;
      const merged = { ...current, ...changes } as LanguageModel;
      if (merged.model === DUMMY_MODEL) validateDummyConfig(merged.config);
      const updated = await updateAtVersion(manager, LanguageModel, current.id, current.version, changes).catch((error: unknown) => rethrowUnique(error));
      if (!updated) throw AppError.conflict(`language model '${current.id}' was changed concurrently; reload and retry`, "input.expectedVersion");
      return (await this.require(scope, current.id, "input.id", manager));
    });
  }
}

async function saveUnique(manager: EntityManager, entity: LanguageModel): Promise<LanguageModel> {
  return manager.save(entity).catch((error: unknown) => rethrowUnique(error));
}

function rethrowUnique(error: unknown): never {
  if (isUniqueViolation(error)) throw AppError.conflict("input.name: a language model with this name already exists", "input.name");
  throw error;
}
