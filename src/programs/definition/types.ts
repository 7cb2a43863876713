/** One problem in a definition: where (e.g. "definition.forward[1].with.question") and why. */
export interface Issue {
  path: string;
  reason: string;
}

export type FieldType = "str" | "int" | "float" | "bool" | "dict" | { list: FieldType } | { enum: (string | number | boolean)[] };

export interface FieldSpec {
  type: FieldType;
  desc?: string;
}

export interface SignatureSpec {
  instructions?: string;
  inputs: Record<string, FieldSpec>;
  outputs: Record<string, FieldSpec>;
}

export type ModuleType = "Predict" | "ChainOfThought";

export interface ModuleSpec {
  type: ModuleType;
  signature: SignatureSpec;
}

export type Binding = { ref: { step: "input" | string; field: string } } | { literal: unknown };

export type Step = { call: string; with: Record<string, Binding>; as: string } | { return: Record<string, Binding> };

export interface NormalizedProgram {
  inputs: Record<string, FieldSpec>;
  outputs: Record<string, FieldSpec>;
  modules: Record<string, ModuleSpec>;
  forward: Step[];
}

export type ValidationResult = { ok: true; program: NormalizedProgram } | { ok: false; issues: Issue[] };

export const DEFINITION_LIMITS = {
  maxBytes: 65536,
  maxModules: 32,
  maxSteps: 64,
  maxFieldsPerSignature: 32,
  maxNameLength: 64,
  maxInstructionsLength: 8192,
  maxEnumValues: 100,
  maxDescLength: 1000,
  /** list[...] nesting in a field type. */
  maxListNesting: 4,
  /** JSON nesting of the whole definition; guards recursion and cyclic input. */
  maxDepth: 32,
} as const;
