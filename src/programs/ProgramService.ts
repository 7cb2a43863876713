import type { EntityManager } from "typeorm";
import { In } from "typeorm";
import { Corpus, Evaluation, Execution, ExecutionStatus, Optimization, Program, ProgramVersion, VersionSource } from "../../entities/index.js";
import type { DspyAdapter } from "../adapters/DspyAdapter.js";
import { AuditLog } from "../audit/AuditLog.js";
import { contentHash } from "../canonicalJson.js";
import type { Database } from "../db/Database.js";
import { FreshReads } from "../db/FreshReads.js";
import { isUniqueViolation } from "../db/dialect.js";
import { row, updateAtVersion } from "../db/rows.js";
import { findInScope, requireInScope } from "../db/scoped.js";
import { AppError } from "../errors.js";
import { isId, newId } from "../ids.js";
import type { LanguageModelService } from "../languageModels/LanguageModelService.js";
import { type Page, type PageArgs, paginate } from "../pagination.js";
import { type EventBus, listen } from "../pubsub.js";
import type { Scope } from "../scope.js";
import { IssueList } from "../validation.js";
import { validateProgramDefinition, type NormalizedProgram } from "./definition/index.js";
import { programOf } from "./programOf.js";
import { pinProgramRefs, type VersionLookup } from "./programRefs.js";
import { httpToolIssues } from "./httpToolPolicy.js";
import { PROGRAM_CHANGED, type ProgramChangedEvent, publishProgramChanged } from "./ProgramEvents.js";
import { ProgramLabelService } from "./ProgramLabels.js";

export interface CreateProgram {
  name: string;
  description?: string | null;
  definition: unknown;
  languageModelId?: string | null;
}

export interface UpdateProgram {
  id: string;
  expectedVersion?: number | null;
  name?: string | null;
  description?: string | null;
  definition?: unknown;
  languageModelId?: string | null;
}

export interface ProgramFilter {
  name?: string | null;
  nameContains?: string | null;
  languageModelId?: string | null;
}

const MAX_DESCRIPTION = 10_000;

/**
 * How long executeProgram may use a program read before (its current version and language model):
 * reading it for every execution was a round trip each. A change is seen at once on the instance that
 * made it, on the others at its programChanged event (at once with Redis), and within this time at
 * the latest.
 */
export const PROGRAM_FRESH_MS = 2_000;

export class ProgramService {
  private readonly forExecutions = new FreshReads<Program>(PROGRAM_FRESH_MS);

  constructor(
    private readonly database: Database,
    private readonly languageModels: LanguageModelService,
    private readonly events: EventBus,
    /** Checks imported DSPy state files (the worker's import_state, or its in-process mirror). */
    private readonly adapter?: DspyAdapter,
  ) {
    this.labels = new ProgramLabelService(database, this);
    void this.forgetChanged(events);
  }

  private async forgetChanged(events: EventBus): Promise<void> {
    for await (const change of listen<ProgramChangedEvent>(events, PROGRAM_CHANGED)) this.forExecutions.forget(`${change.tenantId}/${change.programId}`);
  }

  /** Announces a committed change of a program: forgotten here at once, then published (the other instances forget it on the event). */
  changed(event: Omit<ProgramChangedEvent, "at">): void {
    this.forExecutions.forget(`${event.tenantId}/${event.programId}`);
    publishProgramChanged(this.events, event);
  }

  /** The program as an execution starts from: `require`, read at most once per PROGRAM_FRESH_MS. Not to be changed by the caller. */
  forExecution(scope: Scope, id: string, path: string): Promise<Program> {
    // Not found (or a failed read) is not kept: the next execution reads again.
    return this.forExecutions.get(`${scope.tenantId}/${id}`, () => this.require(scope, id, path));
  }

  /** The programs' labels (production, staging…), and the version a labelled execution runs. */
  readonly labels: ProgramLabelService;

  get(scope: Scope, id: string, manager: EntityManager = this.database.manager): Promise<Program | null> {
    return findInScope(manager, Program, scope, id);
  }

  require(scope: Scope, id: string, path: string, manager: EntityManager = this.database.manager): Promise<Program> {
    return requireInScope(manager, Program, scope, id, path, "program");
  }

  list(scope: Scope, filter: ProgramFilter | null | undefined, page: PageArgs): Promise<Page<Program>> {
    const query = this.database.manager.createQueryBuilder(Program, "p").where("p.tenantId = :tenantId", { tenantId: scope.tenantId });
    if (filter?.name) query.andWhere("p.name = :name", { name: filter.name });
    if (filter?.nameContains) {
      query.andWhere("LOWER(p.name) LIKE :pattern ESCAPE '!'", { pattern: `%${escapeLike(filter.nameContains.toLowerCase())}%` });
    }
    if (filter?.languageModelId != null) query.andWhere("p.languageModelId = :lm", { lm: isId(filter.languageModelId) ? filter.languageModelId : "" });
    return paginate(query, page);
  }

  getVersion(scope: Scope, id: string): Promise<ProgramVersion | null> {
    return findInScope(this.database.manager, ProgramVersion, scope, id);
  }

  async versionByNumber(scope: Scope, programId: string, number: number): Promise<ProgramVersion | null> {
    return this.database.manager.findOneBy(ProgramVersion, { programId, number, tenantId: scope.tenantId });
  }

  versions(scope: Scope, programId: string, page: PageArgs): Promise<Page<ProgramVersion>> {
    const query = this.database.manager
      .createQueryBuilder(ProgramVersion, "v")
      .where("v.tenantId = :tenantId AND v.programId = :programId", { tenantId: scope.tenantId, programId });
    return paginate(query, page);
  }

  async create(scope: Scope, input: CreateProgram): Promise<Program> {
    const checked = checkProgramFields(input, "create")!;
    await this.checkExternal(checked);
    const program = await this.database.transaction(async (manager) => {
      if (input.languageModelId != null) await this.languageModels.require(scope, input.languageModelId, "input.languageModelId", manager);
      const normalized = await this.pinned(scope, checked, manager);
      const programId = newId();
      const version = newVersion(scope, programId, 1, input.definition, normalized);
      const created = row<Program>({
        id: programId,
        tenantId: scope.tenantId,
        name: input.name,
        description: input.description ?? null,
        definition: input.definition,
        languageModelId: input.languageModelId ?? null,
        currentVersionId: version.id,
      });
      await manager.insert(Program, created).catch(rethrowNameConflict);
      await manager.insert(ProgramVersion, row(version));
      const stored = await this.require(scope, programId, "input.id", manager);
      await AuditLog.record(manager, scope, { action: "program.create", entityType: "Program", entityId: stored.id, after: AuditLog.snapshot(stored) });
      return stored;
    });
    this.changed({ kind: "CREATED", tenantId: scope.tenantId, programId: program.id, version: program.version, newVersionId: program.currentVersionId });
    return program;
  }

  async update(scope: Scope, input: UpdateProgram): Promise<Program> {
    const checked = checkProgramFields(input, "update");
    if (checked) await this.checkExternal(checked);
    const { program, newVersionId } = await this.database.transaction(async (manager) => {
      const current = await this.require(scope, input.id, "input.id", manager);
      checkExpectedVersion(current, input.expectedVersion);
      const changes: Partial<Program> = {};
      if (input.name != null) changes.name = input.name;
      if (input.description !== undefined) changes.description = input.description;
      if (input.languageModelId !== undefined) {
        if (input.languageModelId !== null) await this.languageModels.require(scope, input.languageModelId, "input.languageModelId", manager);
        changes.languageModelId = input.languageModelId;
      }
      let newVersionId: string | null = null;
      if (input.definition !== undefined && contentHash(input.definition) !== contentHash(current.definition)) {
        const last = await manager.maximum(ProgramVersion, "number", { programId: current.id });
        const version = newVersion(scope, current.id, (last ?? 0) + 1, input.definition, await this.pinned(scope, checked!, manager));
        await manager.insert(ProgramVersion, row(version)).catch(rethrowConcurrent(current.id));
        changes.definition = input.definition;
        changes.currentVersionId = version.id;
        newVersionId = version.id;
      }
      if (Object.keys(changes).length === 0) return { program: current, newVersionId };
      const updated = await updateAtVersion(manager, Program, current.id, current.version, changes).catch(rethrowNameConflict);
      if (!updated) throw AppError.conflict(`program '${current.id}' was changed concurrently; reload and retry`, "input.expectedVersion");
      const stored = await this.require(scope, current.id, "input.id", manager);
      await AuditLog.record(manager, scope, { action: "program.update", entityType: "Program", entityId: stored.id, before: AuditLog.snapshot(current), after: AuditLog.snapshot(stored) });
      return { program: stored, newVersionId };
    });
    this.changed({ kind: "UPDATED", tenantId: scope.tenantId, programId: program.id, version: program.version, newVersionId });
    return program;
  }

  /**
   * Makes a version the program's current one (the one executions run by default); promoting an
   * older version is how to roll back. The program's definition becomes the version's.
   */
  async promoteVersion(scope: Scope, versionId: string, path = "versionId"): Promise<Program> {
    const { program, changed } = await this.database.transaction(async (manager) => {
      const version = await findInScope(manager, ProgramVersion, scope, versionId);
      if (!version) throw new AppError("NOT_FOUND", `${path}: program version '${versionId}' not found`, { path });
      const current = await this.require(scope, version.programId, path, manager);
      if (current.currentVersionId === version.id) return { program: current, changed: false };
      const updated = await updateAtVersion(manager, Program, current.id, current.version, { currentVersionId: version.id, definition: version.definition });
      if (!updated) throw AppError.conflict(`program '${current.id}' was changed concurrently; reload and retry`, path);
      const stored = await this.require(scope, current.id, path, manager);
      const fields = ["currentVersionId", "definition"];
      await AuditLog.record(manager, scope, { action: "program.promote_version", entityType: "Program", entityId: stored.id, before: AuditLog.snapshot(current, fields), after: AuditLog.snapshot(stored, fields) });
      return { program: stored, changed: true };
    });
    if (changed) this.changed({ kind: "UPDATED", tenantId: scope.tenantId, programId: program.id, version: program.version, newVersionId: null });
    return program;
  }

  /** The normalized program with the stored programs it names pinned to versions of this tenant (BAD_USER_INPUT otherwise). */
  private async pinned(scope: Scope, program: NormalizedProgram, manager: EntityManager): Promise<NormalizedProgram> {
    const lookup: VersionLookup = async (programId, versionId) => {
      const referenced = isId(programId) ? await manager.findOneBy(Program, { id: programId, tenantId: scope.tenantId }) : null;
      const id = versionId ?? referenced?.currentVersionId;
      if (!referenced || !id || !isId(id)) return null;
      const version = await manager.findOneBy(ProgramVersion, { id, programId: referenced.id, tenantId: scope.tenantId });
      if (!version) return null;
      return { programId: referenced.id, versionId: version.id, description: referenced.description, program: programOf(version), hasLanguageModel: referenced.languageModelId != null };
    };
    const { program: pinned, issues } = await pinProgramRefs(program, lookup, "input.definition");
    for (const [name, module] of Object.entries(pinned.modules)) {
      const id = module.corpus?.corpusId;
      if (id !== undefined && !(isId(id) && (await manager.existsBy(Corpus, { id, tenantId: scope.tenantId })))) {
        issues.push({ path: `input.definition.modules.${name}.corpus`, reason: `no corpus '${id}'` });
      }
    }
    if (issues.length > 0) throw AppError.fromIssues(issues);
    return pinned;
  }

  /**
   * What a definition reaches outside this database, checked before any transaction opens: HTTP and
   * MCP tools and ColBERTv2 servers under the egress and secret policies, then the MCP servers' tools
   * listed (a network call, so never inside a transaction).
   */
  private async checkExternal(program: NormalizedProgram): Promise<void> {
    const issues = httpToolIssues(program, this.languageModels.policies, "input.definition");
    if (issues.length === 0) issues.push(...(await this.listMcpTools(program)));
    if (issues.length > 0) throw AppError.fromIssues(issues);
  }

  /**
   * Fills each MCP tool of the program with what its server lists (description, input schema), so a
   * version runs the tools as they were when it was written; issues for a server that cannot be
   * listed or does not offer a named tool. The worker connects (under the egress policy), not the server.
   */
  private async listMcpTools(program: NormalizedProgram): Promise<{ path: string; reason: string }[]> {
    const issues: { path: string; reason: string }[] = [];
    for (const [name, module] of Object.entries(program.modules)) {
      for (const [i, tool] of (module.tools ?? []).entries()) {
        if (!("mcp" in tool)) continue;
        const at = `input.definition.modules.${name}.tools[${i}].mcp`;
        let offered;
        try {
          if (!this.adapter) throw new AppError("UNSUPPORTED", "MCP tools need the worker pool", { layer: "validation" });
          offered = await this.adapter.listMcpTools({ url: tool.mcp.url, headers: tool.mcp.headers });
        } catch (error) {
          if (!(error instanceof AppError)) throw error;
          issues.push({ path: `${at}.url`, reason: `could not list the MCP server's tools: ${error.message}` });
          continue;
        }
        tool.mcp.tools.forEach((wanted, j) => {
          const found = offered.find((t) => t.name === wanted.name);
          if (!found) issues.push({ path: `${at}.tools[${j}]`, reason: `the MCP server has no tool '${wanted.name}' (tools: ${offered.map((t) => t.name).join(", ") || "none"})` });
          else Object.assign(wanted, { description: found.description, inputSchema: found.inputSchema });
        });
      }
    }
    return issues;
  }

  /**
   * A new (not current) version from a DSPy save() JSON, checked against the definition of the
   * program's current version (or `versionId`'s) by the adapter's import (what plain DSPy's
   * load_state takes): a file that does not fit is BAD_USER_INPUT with paths under `input.dspyState`.
   */
  async importVersion(scope: Scope, input: { programId: string; dspyState: unknown; versionId?: string | null }): Promise<ProgramVersion> {
    if (!this.adapter) throw new AppError("UNSUPPORTED", "importing state needs an adapter", { layer: "validation" });
    const program = await this.require(scope, input.programId, "input.programId");
    const baseId = input.versionId ?? program.currentVersionId;
    const base = baseId ? await this.getVersion(scope, baseId) : null;
    if (!base || base.programId !== program.id) throw new AppError("NOT_FOUND", `input.versionId: version '${baseId}' of program '${program.id}' not found`, { path: "input.versionId" });
    if (input.dspyState === null || typeof input.dspyState !== "object" || Array.isArray(input.dspyState)) throw AppError.badInput("input.dspyState", "must be an object (what DSPy's save() writes)");
    let compiledState: Record<string, unknown>;
    try {
      compiledState = (await this.adapter.importState(programOf(base), input.dspyState)).compiledState;
    } catch (error) {
      if (error instanceof AppError && error.code === "INVALID_STATE") {
        const issues = ((error.details?.issues as { path: string; reason: string }[] | undefined) ?? [{ path: "state", reason: error.message }]).map((i) => ({
          path: i.path.replace(/^state/, "input.dspyState"),
          reason: i.reason,
        }));
        throw AppError.fromIssues(issues);
      }
      throw error;
    }
    const version = await this.database.transaction(async (manager) => {
      const last = await manager.maximum(ProgramVersion, "number", { programId: program.id });
      const created = {
        ...newVersion(scope, program.id, (last ?? 0) + 1, base.definition, programOf(base)),
        compiledState,
        dspyState: input.dspyState,
        source: VersionSource.IMPORT,
      };
      await manager.insert(ProgramVersion, row(created)).catch(rethrowConcurrent(program.id));
      const stored = await manager.findOneByOrFail(ProgramVersion, { id: created.id });
      await AuditLog.record(manager, scope, { action: "program_version.import", entityType: "ProgramVersion", entityId: stored.id, after: AuditLog.snapshot(stored, ["programId", "number", "source"]) });
      return stored;
    });
    return version;
  }

  async delete(scope: Scope, id: string, expectedVersion?: number | null): Promise<Program> {
    const program = await this.database.transaction(async (manager) => {
      const current = await this.require(scope, id, "id", manager);
      checkExpectedVersion(current, expectedVersion, "expectedVersion");
      // Finished executions go with the program; queued or running ones would lose their program mid-flight.
      const active = await manager.countBy(Execution, { programId: current.id, status: In([ExecutionStatus.PENDING, ExecutionStatus.RUNNING]) });
      if (active > 0) throw AppError.conflict(`id: program '${current.id}' has ${active} pending or running execution(s); cancel them or let them finish first`, "id");
      // The same for evaluations and optimizations: their jobs would run against a program that is gone.
      const unfinished = In([ExecutionStatus.PENDING, ExecutionStatus.RUNNING]);
      const evaluations = await manager.countBy(Evaluation, { programId: current.id, status: unfinished });
      const optimizations = await manager.countBy(Optimization, { programId: current.id, status: unfinished });
      if (evaluations + optimizations > 0) {
        throw AppError.conflict(
          `id: program '${current.id}' has ${evaluations} pending or running evaluation(s) and ${optimizations} optimization(s); cancel them or let them finish first`,
          "id",
        );
      }
      const result = await manager.delete(Program, { id: current.id, version: current.version });
      if (result.affected !== 1) throw AppError.conflict(`program '${current.id}' was changed concurrently; reload and retry`, "expectedVersion");
      await AuditLog.record(manager, scope, { action: "program.delete", entityType: "Program", entityId: current.id, before: AuditLog.snapshot(current) });
      return current;
    });
    this.changed({ kind: "DELETED", tenantId: scope.tenantId, programId: program.id, version: program.version, newVersionId: null });
    return program;
  }
}

function newVersion(scope: Scope, programId: string, number: number, definition: unknown, normalized: NormalizedProgram): Partial<ProgramVersion> & { id: string } {
  return {
    id: newId(),
    tenantId: scope.tenantId,
    programId,
    number,
    definition,
    normalized,
    contentHash: contentHash(definition),
    compiledState: null,
    source: VersionSource.MANUAL,
    score: null,
    optimizationId: null,
    dspyState: null,
  };
}

/** Name, description and definition: everything that can be checked before touching the database. The normalized program, when a definition is given. */
function checkProgramFields(input: CreateProgram | UpdateProgram, mode: "create" | "update"): NormalizedProgram | undefined {
  const issues = new IssueList();
  if (mode === "create" || input.name != null) issues.name("input.name", input.name);
  issues.optionalText("input.description", input.description, MAX_DESCRIPTION);
  let normalized: NormalizedProgram | undefined;
  if (mode === "create" || input.definition !== undefined) {
    const result = validateProgramDefinition(input.definition, "input.definition");
    if (!result.ok) issues.issues.push(...result.issues);
    else normalized = result.program;
  }
  if (!issues.empty) throw AppError.fromIssues(issues.issues);
  return normalized;
}

function checkExpectedVersion(current: Program, expected: number | null | undefined, path = "input.expectedVersion"): void {
  if (expected != null && expected !== current.version) {
    throw AppError.conflict(`program '${current.id}' is at version ${current.version}, not ${expected}`, path);
  }
}

function rethrowNameConflict(error: unknown): never {
  if (isUniqueViolation(error)) throw AppError.conflict("input.name: a program with this name already exists", "input.name");
  throw error;
}

function rethrowConcurrent(programId: string) {
  return (error: unknown): never => {
    if (isUniqueViolation(error)) throw AppError.conflict(`program '${programId}' was changed concurrently; reload and retry`, "input.expectedVersion");
    throw error;
  };
}

function escapeLike(value: string): string {
  return value.replace(/[!%_]/g, (c) => `!${c}`);
}
