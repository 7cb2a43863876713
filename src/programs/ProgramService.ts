import type { EntityManager } from "typeorm";
import { In } from "typeorm";
import { Execution, ExecutionStatus, Program, ProgramVersion, VersionSource } from "../../entities/index.js";
import { AuditLog } from "../audit/AuditLog.js";
import { contentHash } from "../canonicalJson.js";
import type { Database } from "../db/Database.js";
import { isUniqueViolation } from "../db/dialect.js";
import { row, updateAtVersion } from "../db/rows.js";
import { AppError } from "../errors.js";
import { isId, newId } from "../ids.js";
import type { LanguageModelService } from "../languageModels/LanguageModelService.js";
import { type Page, type PageArgs, paginate } from "../pagination.js";
import type { EventBus } from "../pubsub.js";
import type { Scope } from "../scope.js";
import { IssueList } from "../validation.js";
import { validateProgramDefinition } from "./definition/index.js";
import { publishProgramChanged } from "./ProgramEvents.js";

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

export class ProgramService {
  constructor(
    private readonly database: Database,
    private readonly languageModels: LanguageModelService,
    private readonly events: EventBus,
  ) {}

  async get(scope: Scope, id: string, manager: EntityManager = this.database.manager): Promise<Program | null> {
    if (!isId(id)) return null;
    return manager.findOneBy(Program, { id, tenantId: scope.tenantId });
  }

  async require(scope: Scope, id: string, path: string, manager?: EntityManager): Promise<Program> {
    const program = await this.get(scope, id, manager);
    if (!program) throw new AppError("NOT_FOUND", `${path}: program '${id}' not found`, { path });
    return program;
  }

  list(scope: Scope, filter: ProgramFilter | null | undefined, page: PageArgs): Promise<Page<Program>> {
    const query = this.database.manager.createQueryBuilder(Program, "p").where("p.tenantId = :tenantId", { tenantId: scope.tenantId });
    if (filter?.name) query.andWhere("p.name = :name", { name: filter.name });
    if (filter?.nameContains) {
      query.andWhere("LOWER(p.name) LIKE :pattern ESCAPE '!'", { pattern: `%${escapeLike(filter.nameContains.toLowerCase())}%` });
    }
    if (filter?.languageModelId) query.andWhere("p.languageModelId = :lm", { lm: isId(filter.languageModelId) ? filter.languageModelId : "" });
    return paginate(query, page);
  }

  async getVersion(scope: Scope, id: string): Promise<ProgramVersion | null> {
    if (!isId(id)) return null;
    return this.database.manager.findOneBy(ProgramVersion, { id, tenantId: scope.tenantId });
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
    checkProgramFields(input, "create");
    const program = await this.database.transaction(async (manager) => {
      if (input.languageModelId) await this.languageModels.require(scope, input.languageModelId, "input.languageModelId", manager);
      const programId = newId();
      const version = newVersion(scope, programId, 1, input.definition);
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
    publishProgramChanged(this.events, { kind: "CREATED", tenantId: scope.tenantId, programId: program.id, version: program.version, newVersionId: program.currentVersionId });
    return program;
  }

  async update(scope: Scope, input: UpdateProgram): Promise<Program> {
    checkProgramFields(input, "update");
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
        const version = newVersion(scope, current.id, (last ?? 0) + 1, input.definition);
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
    publishProgramChanged(this.events, { kind: "UPDATED", tenantId: scope.tenantId, programId: program.id, version: program.version, newVersionId });
    return program;
  }

  async delete(scope: Scope, id: string, expectedVersion?: number | null): Promise<Program> {
    const program = await this.database.transaction(async (manager) => {
      const current = await this.require(scope, id, "id", manager);
      checkExpectedVersion(current, expectedVersion, "expectedVersion");
      // Finished executions go with the program; queued or running ones would lose their program mid-flight.
      const active = await manager.countBy(Execution, { programId: current.id, status: In([ExecutionStatus.PENDING, ExecutionStatus.RUNNING]) });
      if (active > 0) throw AppError.conflict(`id: program '${current.id}' has ${active} pending or running execution(s); cancel them or let them finish first`, "id");
      const result = await manager.delete(Program, { id: current.id, version: current.version });
      if (result.affected !== 1) throw AppError.conflict(`program '${current.id}' was changed concurrently; reload and retry`, "expectedVersion");
      await AuditLog.record(manager, scope, { action: "program.delete", entityType: "Program", entityId: current.id, before: AuditLog.snapshot(current) });
      return current;
    });
    publishProgramChanged(this.events, { kind: "DELETED", tenantId: scope.tenantId, programId: program.id, version: program.version, newVersionId: null });
    return program;
  }
}

function newVersion(scope: Scope, programId: string, number: number, definition: unknown): Partial<ProgramVersion> & { id: string } {
  return {
    id: newId(),
    tenantId: scope.tenantId,
    programId,
    number,
    definition,
    contentHash: contentHash(definition),
    compiledState: null,
    source: VersionSource.MANUAL,
    score: null,
  };
}

/** Name, description and definition: everything that can be checked before touching the database. */
function checkProgramFields(input: CreateProgram | UpdateProgram, mode: "create" | "update"): void {
  const issues = new IssueList();
  if (mode === "create" || input.name != null) issues.name("input.name", input.name);
  issues.optionalText("input.description", input.description, MAX_DESCRIPTION);
  if (input.languageModelId != null && !isId(input.languageModelId)) issues.add("input.languageModelId", "is not a valid id");
  if (mode === "create" || input.definition !== undefined) {
    const result = validateProgramDefinition(input.definition, "input.definition");
    if (!result.ok) issues.issues.push(...result.issues);
  }
  if (!issues.empty) throw AppError.fromIssues(issues.issues);
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
