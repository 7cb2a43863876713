/** One problem in a definition: where (e.g. "definition.forward[1].with.question") and why. */
export interface Issue {
  path: string;
  reason: string;
}

export type {
  Binding,
  Condition,
  FieldSpec,
  FieldType,
  HttpToolSpec,
  ModuleSpec,
  NormalizedProgram,
  ProgramRef,
  Ref,
  RewardSpec,
  SignatureSpec,
  Step,
  ToolSpec,
  NamedToolSpec,
  McpToolsSpec,
} from "./programSchema.js";
import type { NormalizedProgram } from "./programSchema.js";

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
  /** map / loop / if inside one another. */
  maxBlockNesting: 3,
  maxLoopRounds: 10,
  maxParallel: 8,
  maxTools: 16,
} as const;
