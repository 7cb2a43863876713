import type { EntityManager } from "typeorm";
import { LanguageModel } from "../../entities/index.js";
import { AuditLog } from "../audit/AuditLog.js";
import type { Database } from "../db/Database.js";
import { FreshReads } from "../db/FreshReads.js";
import { isUniqueViolation } from "../db/dialect.js";
import { updateAtVersion } from "../db/rows.js";
import { findInScope, requireInScope } from "../db/scoped.js";
import { findRow } from "../db/findRow.js";
import { AppError } from "../errors.js";
import { newId } from "../ids.js";
import { type Page, type PageArgs, paginate } from "../pagination.js";
import type { Scope } from "../scope.js";
import { DEFAULT_POLICIES, type LanguageModelPolicies } from "./policies.js";
import { ModelPrices } from "./ModelPrices.js";
import { EMPTY_KEYRING, type SecretKeyring, encryptSecret, languageModelAad, noKeyConfigured } from "../secrets/SecretBox.js";
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

/**
 * How long a run may use a language model read before: every attempt of every execution needs its
 * model, and reading it each time was a round trip per execution (MariaDB: ~12% of the throughput of
 * bench:executions). An update here is seen by the next run at once; one made on another instance
 * within this time, as budgets are.
 */
export const LM_FRESH_MS = 2_000;

const UPDATABLE = ["name", "model", "apiBase", "temperature", "maxTokens", "cache", "secretEnv", "config", "inputCostPerMTokens", "outputCostPerMTokens", "requestsPerMinute", "tokensPerMinute"] as const;

export class LanguageModelService {
  /**
   * `keyring` encrypts `apiKey` inputs (README: "Secrets"); without a current key, storing one is
   * refused. `policies` say which environment variables a model may name and where it may point.
   */
  constructor(
    private readonly database: Database,
    private readonly keyring: SecretKeyring = EMPTY_KEYRING,
    readonly policies: LanguageModelPolicies = DEFAULT_POLICIES,
    /** What models cost: litellm's cost map, which a model's own prices override. */
    readonly prices: ModelPrices = new ModelPrices(),
  ) {}

  private readonly forRuns = new FreshReads<LanguageModel | null>(LM_FRESH_MS);

  /** The language model a run uses: read at most once per LM_FRESH_MS (and after each update here). Not to be changed by the caller. */
  forRun(tenantId: string, id: string): Promise<LanguageModel | null> {
    return this.forRuns.get(`${tenantId}/${id}`, () => findRow(this.database.manager, LanguageModel, { id, tenantId }));
  }

  /** The stored form of an `apiKey` input, bound to its row; the plaintext goes no further than here. */
  private encryptApiKey(apiKey: string, tenantId: string, id: string): string {
    if (!this.keyring.current) throw noKeyConfigured("input.apiKey");
    return encryptSecret(this.keyring, apiKey, languageModelAad(tenantId, id));
  }

  get(scope: Scope, id: string, manager: EntityManager = this.database.manager): Promise<LanguageModel | null> {
    return findInScope(manager, LanguageModel, scope, id);
  }

  require(scope: Scope, id: string, path: string, manager: EntityManager = this.database.manager): Promise<LanguageModel> {
    return requireInScope(manager, LanguageModel, scope, id, path, "language model");
  }

  list(scope: Scope, filter: LanguageModelFilter | null | undefined, page: PageArgs): Promise<Page<LanguageModel>> {
    const query = this.database.manager.createQueryBuilder(LanguageModel, "lm").where("lm.tenantId = :tenantId", { tenantId: scope.tenantId });
    if (filter?.name) query.andWhere("lm.name = :name", { name: filter.name });
    if (filter?.model) query.andWhere("lm.model = :model", { model: filter.model });
    return paginate(query, page);
  }

  async create(scope: Scope, input: CreateLanguageModel): Promise<LanguageModel> {
    validateLanguageModelInput(input, "create", this.policies);
    if (input.model === DUMMY_MODEL) validateDummyConfig(input.config);
    const id = newId();
    const entity = this.database.manager.create(LanguageModel, {
      id,
      tenantId: scope.tenantId,
      name: input.name,
      model: input.model,
      apiBase: input.apiBase ?? null,
      temperature: input.temperature ?? null,
      maxTokens: input.maxTokens ?? null,
      cache: input.cache ?? true,
      secretEnv: input.secretEnv ?? null,
      apiKeyEncrypted: input.apiKey ? this.encryptApiKey(input.apiKey, scope.tenantId, id) : null,
      config: input.config ?? null,
      inputCostPerMTokens: input.inputCostPerMTokens ?? null,
      outputCostPerMTokens: input.outputCostPerMTokens ?? null,
      requestsPerMinute: input.requestsPerMinute ?? null,
      tokensPerMinute: input.tokensPerMinute ?? null,
    });
    pricesSetTogether(entity);
    return this.database.transaction(async (manager) => {
      const saved = await saveUnique(manager, entity);
      // Snapshot fields named like secrets (secretEnv, the encrypted API key) are recorded as "[redacted]".
      await AuditLog.record(manager, scope, { action: "languageModel.create", entityType: "LanguageModel", entityId: saved.id, after: AuditLog.snapshot(saved) });
      return saved;
    });
  }

  async update(scope: Scope, input: UpdateLanguageModel): Promise<LanguageModel> {
    validateLanguageModelInput(input, "update", this.policies);
    try {
      return await this.updateIn(scope, input);
    } finally {
      // Runs here use the update from now on (a read begun before the commit is dropped with it).
      this.forRuns.forget(`${scope.tenantId}/${input.id}`);
    }
  }

  private updateIn(scope: Scope, input: UpdateLanguageModel): Promise<LanguageModel> {
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
      if (input.apiKey === undefined && current.apiKeyEncrypted && redirects(current, changes)) {
        // A write-only key must not be sent somewhere its owner did not send it.
        throw AppError.badInput("input.apiKey", "changing apiBase or the model's provider of a model with a stored API key needs the key again in the same update (apiKey), or apiKey: null to clear it");
      }
      if (input.apiKey !== undefined) changes.apiKeyEncrypted = input.apiKey === null ? null : this.encryptApiKey(input.apiKey, current.tenantId, current.id);
      const secretEnvAfter = changes.secretEnv !== undefined ? changes.secretEnv : current.secretEnv;
      const apiKeyAfter = changes.apiKeyEncrypted !== undefined ? changes.apiKeyEncrypted : current.apiKeyEncrypted;
      if (secretEnvAfter && apiKeyAfter) {
        const path = input.apiKey ? "input.apiKey" : "input.secretEnv";
        throw AppError.badInput(path, "a language model has either a stored apiKey or a secretEnv, not both: clear the other one (null) in the same update");
      }
      if (Object.keys(changes).length === 0) return current;
      const merged = { ...current, ...changes } as LanguageModel;
      pricesSetTogether(merged);
      if (merged.model === DUMMY_MODEL) validateDummyConfig(merged.config);
      const updated = await updateAtVersion(manager, LanguageModel, current.id, current.version, changes).catch((error: unknown) => rethrowUnique(error));
      if (!updated) throw AppError.conflict(`language model '${current.id}' was changed concurrently; reload and retry`, "input.expectedVersion");
      const stored = await this.require(scope, current.id, "input.id", manager);
      await AuditLog.record(manager, scope, {
        action: "languageModel.update",
        entityType: "LanguageModel",
        entityId: stored.id,
        before: AuditLog.snapshot(current),
        after: AuditLog.snapshot(stored),
      });
      return stored;
    });
  }
}

/** Whether `changes` send the model's requests elsewhere: another apiBase, or another litellm provider. */
function redirects(current: LanguageModel, changes: Partial<LanguageModel>): boolean {
  const provider = (model: string) => model.split("/", 1)[0];
  if (changes.apiBase !== undefined && (changes.apiBase ?? null) !== (current.apiBase ?? null)) return true;
  return changes.model !== undefined && provider(changes.model) !== provider(current.model);
}

async function saveUnique(manager: EntityManager, entity: LanguageModel): Promise<LanguageModel> {
  return manager.save(entity).catch((error: unknown) => rethrowUnique(error));
}

function rethrowUnique(error: unknown): never {
  if (isUniqueViolation(error)) throw AppError.conflict("input.name: a language model with this name already exists", "input.name");
  throw error;
}

/** A price override is both halves or neither: half a price would price calls wrongly. */
function pricesSetTogether(lm: Pick<LanguageModel, "inputCostPerMTokens" | "outputCostPerMTokens">): void {
  if ((lm.inputCostPerMTokens === null) !== (lm.outputCostPerMTokens === null)) {
    const missing = lm.inputCostPerMTokens === null ? "inputCostPerMTokens" : "outputCostPerMTokens";
    throw AppError.badInput(`input.${missing}`, "set inputCostPerMTokens and outputCostPerMTokens together (or clear both with null)");
  }
}
