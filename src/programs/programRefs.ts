import type { IssueDetail } from "../errors.js";
import type { FieldSpec, NormalizedProgram, ProgramRef } from "./definition/index.js";
import { formatPath, type Seg } from "./definition/format.js";

/** A stored program version as a reference resolves it. */
export interface ReferencedVersion {
  programId: string;
  versionId: string;
  description: string | null;
  program: NormalizedProgram;
  /** Whether the referenced program has a language model to run with. */
  hasLanguageModel: boolean;
}

export type VersionLookup = (programId: string, versionId: string | undefined) => Promise<ReferencedVersion | null>;

/** How deep programs may call programs (a tool's program using tools of its own, a judge…). */
export const MAX_PROGRAM_NESTING = 3;

/**
 * Pins every stored program a normalized program names (ReAct tools, lm_judge rewards) to a version
 * of the caller's tenant, fills what comes from it (a tool's args and description), and checks what
 * needs it (the judge's score and inputs). Versions are immutable and only existing ones can be
 * named, so references cannot form a cycle; their depth is bounded.
 */
export async function pinProgramRefs(program: NormalizedProgram, lookup: VersionLookup, root: string): Promise<{ program: NormalizedProgram; issues: IssueDetail[] }> {
  const issues: IssueDetail[] = [];
  const pinned = structuredClone(program);
  const at = (segs: Seg[]) => formatPath(root, segs);
  const resolve = async (ref: ProgramRef, segs: Seg[]): Promise<ReferencedVersion | null> => {
    const found = await lookup(ref.programId, ref.versionId || undefined);
    if (!found) {
      issues.push({ path: at(segs), reason: ref.versionId ? `no version '${ref.versionId}' of program '${ref.programId}'` : `no program '${ref.programId}' (or it has no current version)` });
      return null;
    }
    if (!found.hasLanguageModel) issues.push({ path: at(segs), reason: `program '${ref.programId}' has no language model; set one with updateProgram(languageModelId)` });
    const depth = await nesting(found.program, lookup, 1);
    if (depth > MAX_PROGRAM_NESTING) issues.push({ path: at(segs), reason: `programs would call programs ${depth} deep; the limit is ${MAX_PROGRAM_NESTING}` });
    ref.versionId = found.versionId;
    return found;
  };
  for (const [name, module] of Object.entries(pinned.modules)) {
    for (const [i, tool] of (module.tools ?? []).entries()) {
      if ("mcp" in tool || !tool.program) continue;
      const found = await resolve(tool.program, ["modules", name, "tools", i, "program"]);
      if (!found) continue;
      tool.args = found.program.inputs;
      if (tool.description === "") tool.description = found.description ?? `Runs the stored program ${found.programId}.`;
    }
    const judge = module.reward?.judge;
    if (!judge) continue;
    const segs: Seg[] = ["modules", name, "reward", "judge"];
    const found = await resolve(judge.program, [...segs, "program"]);
    if (!found) continue;
    const outputs: Record<string, FieldSpec> = found.program.outputs;
    const score = Object.hasOwn(outputs, judge.score) ? outputs[judge.score] : undefined;
    if (!score) issues.push({ path: at([...segs, "score"]), reason: `the judge program has no output '${judge.score}' (outputs: ${Object.keys(outputs).join(", ")})` });
    else if (!["bool", "int", "float"].includes(score.type as string)) issues.push({ path: at([...segs, "score"]), reason: "the judge's score output must be a bool, int or float" });
    for (const input of Object.keys(found.program.inputs)) {
      if (!Object.hasOwn(judge.inputs, input)) issues.push({ path: at([...segs, "inputs"]), reason: `the judge program's input '${input}' is not mapped` });
    }
    for (const input of Object.keys(judge.inputs)) {
      if (!Object.hasOwn(found.program.inputs, input)) issues.push({ path: at([...segs, "inputs", input]), reason: `the judge program has no input '${input}'` });
    }
  }
  return { program: pinned, issues };
}

/** Every program version a normalized program names, directly. */
export function referencedVersions(program: NormalizedProgram): ProgramRef[] {
  const refs: ProgramRef[] = [];
  for (const module of Object.values(program.modules)) {
    for (const tool of module.tools ?? []) if (!("mcp" in tool) && tool.program) refs.push(tool.program);
    if (module.reward?.judge) refs.push(module.reward.judge.program);
  }
  return refs;
}

async function nesting(program: NormalizedProgram, lookup: VersionLookup, depth: number): Promise<number> {
  if (depth > MAX_PROGRAM_NESTING) return depth;
  let deepest = depth;
  for (const ref of referencedVersions(program)) {
    const found = await lookup(ref.programId, ref.versionId);
    if (found) deepest = Math.max(deepest, await nesting(found.program, lookup, depth + 1));
  }
  return deepest;
}
