import fs from "node:fs";
import path from "node:path";
import { BRIDGE_DIR } from "./workers/bridgePaths.js";

/**
 * The table the server and the worker share (bridge-py/dspy_bridge/catalog.json): module types,
 * optimizers and metric kinds with their options. The worker checks options with jsonschema; this
 * side explains a bad value in a sentence (`optionProblem`).
 */

/** A JSON Schema fragment: the subset the catalog uses. */
export interface OptionSchema {
  type?: JsonTypeName | JsonTypeName[];
  enum?: (string | number | boolean | null)[];
  minimum?: number;
  maximum?: number;
  default?: unknown;
  /** Optimizers only: the key goes to compile() rather than to the constructor. */
  stage?: "init" | "compile";
}
type JsonTypeName = "integer" | "number" | "boolean" | "string" | "null";

export interface AddedOutput {
  name: string;
  type: "str" | "dict";
}

export interface ModuleTypeEntry {
  dspy: string;
  doc: string;
  options: Record<string, OptionSchema>;
  /** Outputs the type adds before the signature's own (e.g. ChainOfThought's reasoning). */
  adds?: AddedOutput[];
  /** Paths of its predictors under the module's name ("" is the module itself). */
  predictors?: string[];
  /** Field names the type uses itself (ProgramOfThought's generated_code…): a signature may not declare them. */
  reserves?: string[];
  /** The option naming the inner module type whose outputs and predictors (under "module.") this one has. */
  wraps?: string;
  reward?: boolean;
  tools?: boolean;
  corpus?: boolean;
  /** The module reads a server at a URL (ColBERTv2): a required `url`, under the egress policy. */
  url?: boolean;
  /** A fixed signature (normalized form); the definition gives none. */
  signature?: { inputs: Record<string, { type: unknown }>; outputs: Record<string, { type: unknown }> };
}

export interface OptimizerEntry {
  dspy: string;
  options: Record<string, OptionSchema>;
}

export interface MetricKindEntry {
  doc: string;
  /** Keys this kind takes besides kind, output and label. */
  keys: string[];
}

export interface RunLimits {
  maxLmCalls: number;
  maxSteps: number;
  maxMapItems: number;
}

interface Catalog {
  runLimits: RunLimits;
  moduleTypes: Record<string, ModuleTypeEntry>;
  optimizers: Record<string, OptimizerEntry>;
  metricKinds: Record<string, MetricKindEntry>;
}

const CATALOG: Catalog = JSON.parse(fs.readFileSync(path.join(BRIDGE_DIR, "dspy_bridge", "catalog.json"), "utf8")) as Catalog;

export const MODULE_TYPES: Readonly<Record<string, ModuleTypeEntry>> = CATALOG.moduleTypes;
export const OPTIMIZER_ENTRIES: Readonly<Record<string, OptimizerEntry>> = CATALOG.optimizers;
export const METRIC_KIND_ENTRIES: Readonly<Record<string, MetricKindEntry>> = CATALOG.metricKinds;
/** Bounds of one run, whichever adapter runs it: LM calls (unless MAX_LM_CALLS_PER_EXECUTION says otherwise), forward steps, elements of one map. */
export const RUN_LIMITS: Readonly<RunLimits> = CATALOG.runLimits;

/** An own entry of a catalog table ("constructor" and "__proto__" name nothing). */
export function entryOf<T>(table: Readonly<Record<string, T>>, name: unknown): T | undefined {
  return typeof name === "string" && Object.hasOwn(table, name) ? table[name] : undefined;
}

/** Why `value` does not satisfy `schema`, as "must be …", or null. */
export function optionProblem(schema: OptionSchema, value: unknown): string | null {
  const types = schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type];
  const nullable = types.includes("null") || (schema.enum?.includes(null) ?? false);
  if (value === null && nullable) return null;
  const orNull = nullable ? " or null" : "";
  if (schema.enum) {
    const values = schema.enum.filter((v) => v !== null);
    return values.includes(value as string) ? null : `must be one of ${values.join(", ")}${orNull}`;
  }
  if (types.includes("boolean")) return typeof value === "boolean" ? null : "must be true or false";
  if (types.includes("string")) return typeof value === "string" ? null : `must be a string${orNull}`;
  const integer = types.includes("integer");
  const lo = schema.minimum;
  const hi = schema.maximum;
  const ok = typeof value === "number" && Number.isFinite(value) && (!integer || Number.isInteger(value)) && (lo === undefined || value >= lo) && (hi === undefined || value <= hi);
  if (ok) return null;
  const range = lo !== undefined && hi !== undefined ? ` from ${lo} to ${hi}` : lo !== undefined ? ` >= ${lo}` : hi !== undefined ? ` <= ${hi}` : "";
  return `must be ${integer ? "an integer" : "a number"}${range}${orNull}`;
}

/** The options' defaults, for a normalized form that says every value it runs with. */
export function optionDefaults(options: Record<string, OptionSchema>): Record<string, unknown> {
  const defaults: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(options)) if (schema.default !== undefined) defaults[key] = schema.default;
  return defaults;
}
