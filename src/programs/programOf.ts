import type { ProgramVersion } from "../../entities/index.js";
import { AppError } from "../errors.js";
import { validateProgramDefinition, type NormalizedProgram } from "./definition/index.js";

/**
 * The normalized program of a version: stored since it was written, or, for a version written
 * before normalized programs were stored, its definition normalized now (same validator).
 */
export function programOf(version: Pick<ProgramVersion, "definition" | "normalized">): NormalizedProgram {
  return version.normalized ?? normalizeDefinition(version.definition);
}

/** A definition in normalized form, or INVALID_DEFINITION with every issue. */
export function normalizeDefinition(definition: unknown): NormalizedProgram {
  const result = validateProgramDefinition(definition);
  if (!result.ok) {
    throw new AppError("INVALID_DEFINITION", `${result.issues[0]!.path}: ${result.issues[0]!.reason}`, { layer: "validation", details: { issues: result.issues } });
  }
  return result.program;
}
