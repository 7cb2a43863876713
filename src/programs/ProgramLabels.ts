import { createHash } from "node:crypto";
import { type Program, ProgramLabel, ProgramVersion } from "../../entities/index.js";
import { AuditLog } from "../audit/AuditLog.js";
import type { Database } from "../db/Database.js";
import { insertRow, updateAtVersion, upsertOnce } from "../db/rows.js";
import { AppError } from "../errors.js";
import { isId, newId } from "../ids.js";
import type { Scope } from "../scope.js";
import { IssueList } from "../validation.js";
import type { ProgramService } from "./ProgramService.js";

/** The label every program has: its current version (promoteProgramVersion moves it). */
export const CURRENT_LABEL = "current";
const NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
const MAX_ROUTES = 10;
const MAX_WEIGHT = 10_000;
const MAX_ROUTING_KEY = 200;

export interface LabelRouteInput {
  versionId: string;
  weight: number;
}

export interface SetLabelInput {
  programId: string;
  name: string;
  versionId?: string | null;
  routes?: LabelRouteInput[] | null;
}

/** A label as the API shows it: `current` included, each route with its share. */
export interface LabelView {
  programId: string;
  name: string;
  routes: { versionId: string; weight: number; share: number }[];
  updatedAt: Date;
}

/**
 * Program labels: names that point at a version, or split executions between versions by weight
 * (README "Release management"). `current` is the program's current version: setting it promotes,
 * and it never splits. A label's version is chosen per execution: by the hash of the caller's
 * routing key when there is one (the same key gets the same version while the routes stay), at
 * random otherwise.
 */
export class ProgramLabelService {
  constructor(
    private readonly database: Database,
    private readonly programs: ProgramService,
  ) {}

  async list(scope: Scope, program: Program): Promise<LabelView[]> {
    const stored = await this.database.manager.find(ProgramLabel, { where: { tenantId: scope.tenantId, programId: program.id }, order: { name: "ASC" } });
    const current = program.currentVersionId ? [{ programId: program.id, name: CURRENT_LABEL, routes: [{ versionId: program.currentVersionId, weight: 1 }], updatedAt: program.updatedAt }] : [];
    return [...current, ...stored].map(view);
  }

  async get(scope: Scope, program: Program, name: string): Promise<LabelView | null> {
    return (await this.list(scope, program)).find((l) => l.name === name) ?? null;
  }

  async set(scope: Scope, input: SetLabelInput): Promise<LabelView> {
    const routes = await this.checkedRoutes(scope, input);
    if (input.name === CURRENT_LABEL) {
      if (routes.length !== 1) throw AppError.badInput("input.routes", "the current label points at one version (it is the program's current version); split another label");
      const program = await this.programs.promoteVersion(scope, routes[0]!.versionId, "input.versionId");
      return (await this.get(scope, program, CURRENT_LABEL))!;
    }
    // Two first settings of one name at once: the second is set again over the first.
    return upsertOnce(() => this.write(scope, input.programId, input.name, routes));
  }

  async remove(scope: Scope, programId: string, name: string): Promise<boolean> {
    if (name === CURRENT_LABEL) throw AppError.badInput("name", "the current label cannot be deleted (it is the program's current version)");
    const program = await this.programs.require(scope, programId, "programId");
    const removed = await this.database.transaction(async (manager) => {
      const label = await manager.findOneBy(ProgramLabel, { tenantId: scope.tenantId, programId: program.id, name });
      if (!label) return false;
      await manager.delete(ProgramLabel, { id: label.id, tenantId: scope.tenantId });
      await AuditLog.record(manager, scope, { action: "program.delete_label", entityType: "Program", entityId: program.id, before: { label: name, routes: label.routes }, after: null });
      return true;
    });
    if (!removed) throw AppError.badInput("name", `program '${program.id}' has no label '${name}'`);
    this.programs.changed({ kind: "UPDATED", tenantId: scope.tenantId, programId: program.id, version: program.version, newVersionId: null });
    return true;
  }

  /** The version a labelled execution runs: by `routingKey`'s hash, or at random without one. */
  async route(scope: Scope, program: Program, name: string, routingKey: string | null): Promise<string> {
    const label = name === CURRENT_LABEL ? null : await this.database.manager.findOneBy(ProgramLabel, { tenantId: scope.tenantId, programId: program.id, name });
    const routes = name === CURRENT_LABEL && program.currentVersionId ? [{ versionId: program.currentVersionId, weight: 1 }] : label?.routes;
    if (!routes || routes.length === 0) throw AppError.badInput("input.label", `program '${program.id}' has no label '${name}'`);
    const total = routes.reduce((sum, r) => sum + r.weight, 0);
    let point = (routingKey === null ? Math.random() : routingPoint(program.id, name, routingKey)) * total;
    for (const route of routes) {
      if (point < route.weight) return route.versionId;
      point -= route.weight;
    }
    return routes[routes.length - 1]!.versionId;
  }

  /** The checks of executeProgram's `label` and `routingKey`, before anything is read. */
  static requestIssues(issues: IssueList, input: { versionId?: string | null; label?: string | null; routingKey?: string | null }): void {
    if (input.label != null) {
      if (input.versionId != null) issues.add("input.label", "give versionId or label, not both");
      else if (!NAME.test(input.label)) issues.add("input.label", nameRule(input.label));
    }
    const key = input.routingKey;
    if (key != null) {
      if (key.length === 0 || key.length > MAX_ROUTING_KEY) issues.add("input.routingKey", `must be 1–${MAX_ROUTING_KEY} characters, got ${key.length}`);
      else if (/\p{Cc}/u.test(key)) issues.add("input.routingKey", "must not contain control characters");
    }
  }

  private async write(scope: Scope, programId: string, name: string, routes: LabelRouteInput[]): Promise<LabelView> {
    const { program, label } = await this.database.transaction(async (manager) => {
      const program = await this.programs.require(scope, programId, "input.programId", manager);
      const existing = await manager.findOneBy(ProgramLabel, { tenantId: scope.tenantId, programId: program.id, name });
      if (existing) {
        if (!(await updateAtVersion(manager, ProgramLabel, existing.id, existing.version, { routes }))) throw AppError.conflict(`label '${name}' was changed concurrently; retry`, "input.name");
      } else {
        await insertRow(manager, ProgramLabel, { id: newId(), tenantId: scope.tenantId, programId: program.id, name, routes, version: 1 });
      }
      await AuditLog.record(manager, scope, { action: "program.set_label", entityType: "Program", entityId: program.id, before: existing ? { label: name, routes: existing.routes } : null, after: { label: name, routes } });
      const label = await manager.findOneByOrFail(ProgramLabel, { tenantId: scope.tenantId, programId: program.id, name });
      return { program, label };
    });
    this.programs.changed({ kind: "UPDATED", tenantId: scope.tenantId, programId: program.id, version: program.version, newVersionId: null });
    return view(label);
  }

  /** `versionId` or `routes`, each route a version of the program with a whole weight; every problem at its path. */
  private async checkedRoutes(scope: Scope, input: SetLabelInput): Promise<LabelRouteInput[]> {
    const issues = new IssueList();
    if (typeof input.name !== "string" || !NAME.test(input.name)) issues.add("input.name", nameRule(String(input.name)));
    const given = input.routes ?? null;
    if (input.versionId != null && given !== null) issues.add("input.routes", "give versionId or routes, not both");
    if (input.versionId == null && given === null) issues.add("input.versionId", "give the version the label points at (versionId) or its split (routes)");
    const routes = input.versionId != null ? [{ versionId: input.versionId, weight: 1 }] : (given ?? []);
    const pathOf = (i: number) => (input.versionId != null ? "input.versionId" : `input.routes[${i}].versionId`);
    if (given !== null && (given.length === 0 || given.length > MAX_ROUTES)) issues.add("input.routes", `must list 1–${MAX_ROUTES} versions, got ${given.length}`);
    const seen = new Set<string>();
    routes.forEach((route, i) => {
      if (!Number.isInteger(route.weight) || route.weight < 1 || route.weight > MAX_WEIGHT) issues.add(`input.routes[${i}].weight`, `must be a whole number from 1 to ${MAX_WEIGHT}, got ${route.weight}`);
      if (seen.has(route.versionId)) issues.add(pathOf(i), `version '${route.versionId}' is listed twice`);
      seen.add(route.versionId);
    });
    if (!issues.empty) throw AppError.fromIssues(issues.issues);
    const program = await this.programs.require(scope, input.programId, "input.programId");
    for (const [i, route] of routes.entries()) {
      const version = isId(route.versionId) ? await this.database.manager.findOneBy(ProgramVersion, { id: route.versionId, tenantId: scope.tenantId }) : null;
      if (!version || version.programId !== program.id) issues.add(pathOf(i), `no version '${route.versionId}' of program '${program.id}'`);
    }
    if (!issues.empty) throw AppError.fromIssues(issues.issues);
    return routes.map((r) => ({ versionId: r.versionId, weight: r.weight }));
  }
}

function view(label: { programId: string; name: string; routes: LabelRouteInput[]; updatedAt: Date }): LabelView {
  const total = label.routes.reduce((sum, r) => sum + r.weight, 0);
  return { programId: label.programId, name: label.name, updatedAt: label.updatedAt, routes: label.routes.map((r) => ({ ...r, share: r.weight / total })) };
}

function nameRule(name: string): string {
  return `must be 1–64 lower-case letters, digits, '-', '_' or '.', starting with a letter or digit, got '${name.slice(0, 80)}'`;
}

/** Where a routing key falls in [0, 1): the same program, label and key always fall at the same point. */
function routingPoint(programId: string, label: string, key: string): number {
  return createHash("sha256").update(`${programId}\n${label}\n${key}`).digest().readUInt32BE(0) / 2 ** 32;
}
