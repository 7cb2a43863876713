import { MODULE_TYPES } from "../catalog.js";
import { formatFieldType } from "./definition/index.js";
import type { FieldSpec, ModuleSpec, NormalizedProgram } from "./definition/index.js";

/** A module of a program as the GraphQL type ProgramModule shows it. */
export interface ModuleView {
  name: string;
  type: string;
  config: Record<string, unknown>;
  instructions: string | null;
  inputs: FieldView[];
  outputs: FieldView[];
  predictors: string[];
  demos: number;
  tools: ToolView[];
  corpusId: string | null;
  url: string | null;
}

export interface FieldView {
  name: string;
  type: string;
  description: string | null;
  values: (string | number | boolean)[] | null;
}

export interface ToolView {
  name: string;
  description: string;
  kind: "program" | "http" | "mcp";
  programId: string | null;
  versionId: string | null;
  args: FieldView[];
}

/**
 * Where DSPy names a module's predictors (named_predictors(), dump_state() keys), from the catalog:
 * "answer" for a Predict, "generate.predict" for a ChainOfThought, "best.module.predict" for a BestOfN
 * wrapping a ChainOfThought (DSPy keeps the wrapped module as `.module`).
 */
export function predictorPaths(name: string, module: ModuleSpec): string[] {
  const entry = MODULE_TYPES[module.type];
  if (!entry) return [];
  if (entry.wraps) {
    const inner = { ...module, type: String(module.config[entry.wraps]), config: {} };
    return predictorPaths(`${name}.module`, inner);
  }
  return (entry.predictors ?? []).map((path) => (path === "" ? name : `${name}.${path}`));
}

/** The program's modules, with what an optimization left in its compiled state (demos, instructions). */
export function moduleViews(program: NormalizedProgram, compiledState: unknown): ModuleView[] {
  const state = compiledState !== null && typeof compiledState === "object" ? (compiledState as Record<string, { demos?: unknown[]; signature?: { instructions?: unknown } }>) : {};
  return Object.entries(program.modules).map(([name, module]) => {
    const predictors = predictorPaths(name, module);
    const saved = predictors.map((p) => (Object.hasOwn(state, p) ? state[p] : undefined));
    const optimized = saved.map((s) => s?.signature?.instructions).find((i): i is string => typeof i === "string");
    return {
      name,
      type: module.type,
      config: module.config,
      instructions: optimized ?? module.signature.instructions ?? null,
      inputs: fields(module.signature.inputs),
      outputs: fields(module.signature.outputs),
      predictors,
      demos: saved.reduce((n, s) => n + (Array.isArray(s?.demos) ? s.demos.length : 0), 0),
      tools: (module.tools ?? []).flatMap((tool): ToolView[] =>
        "mcp" in tool
          ? tool.mcp.tools.map((t) => ({ name: t.name, description: t.description, kind: "mcp", programId: null, versionId: null, args: schemaFields(t.inputSchema) }))
          : [{ name: tool.name, description: tool.description, kind: tool.program ? "program" : "http", programId: tool.program?.programId ?? null, versionId: tool.program?.versionId ?? null, args: fields(tool.args) }],
      ),
      corpusId: module.corpus?.corpusId ?? null,
      url: module.url ?? null,
    };
  });
}

/** An MCP tool's arguments from its JSON Schema, in the field types' words where there is one. */
function schemaFields(schema: Record<string, unknown>): FieldView[] {
  const properties = (schema["properties"] ?? {}) as Record<string, { type?: unknown; description?: unknown; enum?: unknown }>;
  const words: Record<string, string> = { string: "str", integer: "int", number: "float", boolean: "bool", object: "dict", array: "list" };
  return Object.entries(properties).map(([name, p]) => ({
    name,
    type: typeof p.type === "string" ? (words[p.type] ?? p.type) : "any",
    description: typeof p.description === "string" ? p.description : null,
    values: Array.isArray(p.enum) ? (p.enum as (string | number | boolean)[]) : null,
  }));
}

function fields(record: Record<string, FieldSpec>): FieldView[] {
  return Object.entries(record).map(([name, spec]) => ({
    name,
    type: formatFieldType(spec.type),
    description: spec.desc ?? null,
    values: typeof spec.type === "object" && "enum" in spec.type ? spec.type.enum : null,
  }));
}
