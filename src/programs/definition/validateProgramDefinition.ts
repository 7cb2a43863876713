import { DEFINITION_LIMITS as LIMITS, type FieldSpec, type ModuleSpec, type NormalizedProgram, type ProgramRef, type ValidationResult } from "./types.js";
import { addedOutputs, parseFields, parseModules, type Add, type Fields, type ModuleInfo } from "./declarations.js";
import type { RawProgramRef, RawReward } from "./moduleParts.js";
import { parseForward } from "./forward.js";
import { describeValue, formatPath, isObject, quote, setOwn, type Seg } from "./format.js";

interface RawIssue {
  segs: readonly Seg[];
  reason: string;
}

const ROOT_KEYS = ["inputs", "modules", "forward", "description"];

/** Validates a program definition completely; returns every issue, in document order. Never throws. */
export function validateProgramDefinition(definition: unknown, rootPath = "definition"): ValidationResult {
  const raw: RawIssue[] = [];
  const add: Add = Object.assign(
    (segs: readonly Seg[], reason: string) => {
      raw.push({ segs, reason });
    },
    { count: () => raw.length },
  );
  let program: NormalizedProgram | undefined;
  try {
    program = validateRoot(definition, add);
  } catch (err) {
    // Only reachable with non-JSON input (proxies, throwing getters); keep the no-throw promise.
    add([], `internal error while validating the definition: ${err instanceof Error ? err.message : "unknown"}`);
  }
  if (raw.length === 0 && program) return { ok: true, program };
  if (raw.length === 0) add([], "internal error: the definition was neither accepted nor rejected");
  const issues = inDocumentOrder(definition, raw).map((i) => ({ path: formatPath(rootPath, i.segs), reason: i.reason }));
  return { ok: false, issues };
}

function validateRoot(def: unknown, add: Add): NormalizedProgram | undefined {
  if (!withinShapeLimits(def, add)) return undefined;
  let json: string | undefined;
  try {
    json = JSON.stringify(def);
  } catch {
    add([], "definition is not JSON-serializable");
    return undefined;
  }
  const bytes = json === undefined ? 0 : Buffer.byteLength(json, "utf8");
  if (bytes > LIMITS.maxBytes) {
    add([], `definition is ${bytes} bytes; the limit is ${LIMITS.maxBytes}`);
    return undefined;
  }
  if (!isObject(def)) {
    add([], `definition must be a JSON object, got ${describeValue(def)}`);
    return undefined;
  }
  for (const key of Object.keys(def)) {
    if (!ROOT_KEYS.includes(key)) add([key], `unknown key ${quote(key)} (expected ${ROOT_KEYS.join(", ")})`);
  }
  for (const key of ["inputs", "modules", "forward"]) {
    if (!Object.hasOwn(def, key)) add([], `missing required key '${key}'`);
  }
  if (Object.hasOwn(def, "description") && typeof def["description"] !== "string") {
    add(["description"], `description must be a string, got ${describeValue(def["description"])}`);
  }
  const inputs = Object.hasOwn(def, "inputs") ? parseFields(def["inputs"], ["inputs"], "program input", add) : undefined;
  if (inputs && inputs.size > LIMITS.maxFieldsPerSignature) {
    add(["inputs"], `${inputs.size} program inputs; the limit is ${LIMITS.maxFieldsPerSignature}`);
  }
  const modules = Object.hasOwn(def, "modules") ? parseModules(def["modules"], add) : undefined;
  const forward = Object.hasOwn(def, "forward") ? parseForward(def["forward"], inputs, modules, add) : undefined;
  if (!inputs || !modules || !forward) return undefined;

  for (const m of modules.values()) if (m.reward) checkRewardFields(m, m.reward, add);
  if (add.count() > 0) return undefined;
  const program: NormalizedProgram = { inputs: toRecord(inputs), outputs: forward.outputs, modules: {}, forward: forward.steps };
  for (const [name, m] of modules) {
    if (!m.type || !m.inputs || !m.outputs) continue;
    setOwn<ModuleSpec>(program.modules, name, moduleSpec(m));
  }
  // The parts share FieldType objects; hand out an unaliased copy.
  return structuredClone(program);
}

/** A module in normalized form. Stored programs it names keep an empty versionId until ProgramService pins them. */
function moduleSpec(m: ModuleInfo): ModuleSpec {
  const signature = { ...(m.instructions === undefined ? {} : { instructions: m.instructions }), inputs: toRecord(m.inputs!), outputs: toRecord(m.outputs!) };
  const spec: ModuleSpec = { type: m.type!, signature, config: m.config ?? {} };
  if (m.reward) {
    const { segs: _segs, judge, ...rest } = m.reward;
    spec.reward = { ...rest, ...(judge ? { judge: { program: pinLater(judge.program), score: judge.score, inputs: judge.inputs } } : {}) };
  }
  if (m.tools) {
    spec.tools = m.tools.map((t) =>
      t.mcp
        ? // Descriptions and input schemas come from the MCP server when the program is written (ProgramService).
          { mcp: { url: t.mcp.url, headers: t.mcp.headers, tools: t.mcp.tools.map((name) => ({ name, description: "", inputSchema: {} })) } }
        : {
            name: t.name,
            description: t.description ?? "",
            args: t.args ? toRecord(t.args) : {},
            ...(t.program ? { program: pinLater(t.program) } : {}),
            ...(t.http ? { http: t.http } : {}),
          },
    );
  }
  if (m.corpusId !== undefined) spec.corpus = { corpusId: m.corpusId };
  if (m.url !== undefined) spec.url = m.url;
  return spec;
}

function pinLater(ref: RawProgramRef): ProgramRef {
  return { programId: ref.programId, versionId: ref.versionId ?? "" };
}

/** A reward reads the module's own fields: its output among the module's outputs, its input among its inputs. */
function checkRewardFields(m: ModuleInfo, reward: RawReward, add: Add): void {
  const outputs = [...addedOutputs(m.entry, m.config).map((a) => a.name), ...(m.outputs?.keys() ?? [])];
  if (m.outputs && !outputs.includes(reward.output)) add([...reward.segs, "output"], `the module has no output ${quote(reward.output)} (outputs: ${outputs.join(", ")})`);
  if (reward.input !== undefined && m.inputs && !m.inputs.has(reward.input)) {
    add([...reward.segs, "input"], `the module has no input ${quote(reward.input)} (inputs: ${[...m.inputs.keys()].join(", ")})`);
  }
  for (const [name, source] of Object.entries(reward.judge?.inputs ?? {})) {
    const [where, field] = source.split(".") as ["input" | "output", string];
    const known = where === "input" ? [...(m.inputs?.keys() ?? [])] : outputs;
    if (!known.includes(field)) add([...reward.segs, "judge", "inputs", name], `the module has no ${where} ${quote(field)} (${where}s: ${known.join(", ")})`);
  }
}

/** Iterative walk (no recursion) bounding depth and size, so cyclic or absurdly deep input cannot hang or overflow. */
function withinShapeLimits(def: unknown, add: Add): boolean {
  const stack: [unknown, Seg[]][] = [[def, []]];
  let nodes = 0;
  while (stack.length > 0) {
    const [value, segs] = stack.pop()!;
    if (segs.length > LIMITS.maxDepth) {
      add(segs, `definition nests deeper than ${LIMITS.maxDepth} levels`);
      return false;
    }
    if (typeof value !== "object" || value === null) continue;
    const keys: Seg[] = Array.isArray(value) ? Array.from({ length: Math.min(value.length, LIMITS.maxBytes + 1) }, (_, i) => i) : Object.keys(value);
    nodes += keys.length;
    // Every JSON value takes at least one byte, so more values than maxBytes is over the limit.
    if (nodes > LIMITS.maxBytes) {
      add([], `definition has more than ${LIMITS.maxBytes} values; the limit is ${LIMITS.maxBytes} bytes`);
      return false;
    }
    const record = value as Record<string | number, unknown>;
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      stack.push([record[key], [...segs, key]]);
    }
  }
  return true;
}

function toRecord(fields: Fields): Record<string, FieldSpec> {
  const record: Record<string, FieldSpec> = {};
  for (const [name, spec] of fields) if (spec) setOwn(record, name, spec);
  return record;
}

/** Stable sort by where each issue's path sits in the document (key order, then array index). */
function inDocumentOrder(root: unknown, issues: RawIssue[]): RawIssue[] {
  try {
    const keyIndex = new WeakMap<object, Map<string, number>>();
    const keyed = issues.map((issue, n) => ({ issue, n, pos: position(root, issue.segs, keyIndex) }));
    keyed.sort((a, b) => comparePositions(a.pos, b.pos) || a.n - b.n);
    return keyed.map((k) => k.issue);
  } catch {
    return issues;
  }
}

function position(root: unknown, segs: readonly Seg[], keyIndex: WeakMap<object, Map<string, number>>): number[] {
  const pos: number[] = [];
  let node = root;
  for (const seg of segs) {
    if (typeof seg === "number") {
      pos.push(seg);
      node = Array.isArray(node) ? node[seg] : undefined;
    } else if (isObject(node)) {
      let index = keyIndex.get(node);
      if (!index) keyIndex.set(node, (index = new Map(Object.keys(node).map((key, i) => [key, i]))));
      pos.push(index.get(seg) ?? -1);
      node = Object.hasOwn(node, seg) ? node[seg] : undefined;
    } else {
      pos.push(-1);
      node = undefined;
    }
  }
  return pos;
}

function comparePositions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}
