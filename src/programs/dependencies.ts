import type { EntityManager } from "typeorm";
import { Corpus, LanguageModel, Program, ProgramVersion } from "../../entities/index.js";
import type { CorpusSpec, ProgramDependency } from "../adapters/DspyAdapter.js";
import { corpusSpec } from "../corpora/CorpusService.js";
import { AppError } from "../errors.js";
import type { NormalizedProgram } from "./definition/index.js";
import { programOf } from "./programOf.js";
import { MAX_PROGRAM_NESTING, referencedVersions } from "./programRefs.js";

/**
 * The stored programs a run may call (ReAct tools, lm_judge rewards), transitively: each pinned
 * version with its compiled state and the language model its program runs with now. Pinning made
 * the graph acyclic and shallow (MAX_PROGRAM_NESTING); a version seen twice is loaded once.
 */
export async function loadDependencies(manager: EntityManager, tenantId: string, program: NormalizedProgram): Promise<ProgramDependency[]> {
  const loaded = new Map<string, ProgramDependency>();
  let frontier = referencedVersions(program);
  for (let depth = 0; frontier.length > 0 && depth <= MAX_PROGRAM_NESTING; depth++) {
    const next = [];
    for (const ref of frontier) {
      if (loaded.has(ref.versionId)) continue;
      const version = await manager.findOneBy(ProgramVersion, { id: ref.versionId, programId: ref.programId, tenantId });
      const owner = version ? await manager.findOneBy(Program, { id: ref.programId, tenantId }) : null;
      if (!version || !owner) throw new AppError("NOT_FOUND", `program '${ref.programId}' (version '${ref.versionId}'), which this program calls, no longer exists`, { layer: "storage" });
      const lm = owner.languageModelId ? await manager.findOneBy(LanguageModel, { id: owner.languageModelId, tenantId }) : null;
      if (!lm) throw new AppError("NOT_FOUND", `program '${ref.programId}', which this program calls, has no language model`, { layer: "storage" });
      const normalized = programOf(version);
      loaded.set(version.id, { program: { versionId: version.id, program: normalized, compiledState: version.compiledState }, lm });
      next.push(...referencedVersions(normalized));
    }
    frontier = next;
  }
  return [...loaded.values()];
}

/** The corpora the Retrieve modules of these programs search, each as the workers know it (its current hash). */
export async function loadCorpora(manager: EntityManager, tenantId: string, programs: NormalizedProgram[]): Promise<CorpusSpec[]> {
  const ids = new Set(programs.flatMap((program) => Object.values(program.modules).flatMap((m) => (m.corpus ? [m.corpus.corpusId] : []))));
  const specs: CorpusSpec[] = [];
  for (const id of ids) {
    const corpus = await manager.findOneBy(Corpus, { id, tenantId });
    if (!corpus) throw new AppError("NOT_FOUND", `corpus '${id}', which this program searches, no longer exists`, { layer: "storage" });
    specs.push(corpusSpec(manager, corpus));
  }
  return specs;
}

/** What a run needs besides its own program: the programs it calls and the corpora any of them search. */
export async function loadRunContext(manager: EntityManager, tenantId: string, program: NormalizedProgram): Promise<{ dependencies: ProgramDependency[]; corpora: CorpusSpec[] }> {
  const dependencies = await loadDependencies(manager, tenantId, program);
  const corpora = await loadCorpora(manager, tenantId, [program, ...dependencies.map((d) => d.program.program)]);
  return { dependencies, corpora };
}
