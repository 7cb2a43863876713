import { Foundation1764100000000 } from "./1764100000000-Foundation.js";
import { Executions1764200000000 } from "./1764200000000-Executions.js";
import { AgendaJobs1764200000001 } from "./1764200000001-AgendaJobs.js";
import { ApiKeys1764300000000 } from "./1764300000000-ApiKeys.js";
import { AuditEvents1764400000010 } from "./1764400000010-AuditEvents.js";
import { LanguageModelSecrets1764500000000 } from "./1764500000000-LanguageModelSecrets.js";
import { Evaluations1764600000000 } from "./1764600000000-Evaluations.js";
import { Optimizations1764700000000 } from "./1764700000000-Optimizations.js";
import { OptimizationSchedules1764800000000 } from "./1764800000000-OptimizationSchedules.js";
import { ExecutionLeases1764900000000 } from "./1764900000000-ExecutionLeases.js";
import { RunLeases1764900000001 } from "./1764900000001-RunLeases.js";
import { NormalizedPrograms1764950000000 } from "./1764950000000-NormalizedPrograms.js";
import { Corpora1765000000000 } from "./1765000000000-Corpora.js";
import { ExecutionTraceparent1765100000000 } from "./1765100000000-ExecutionTraceparent.js";
import { ExecutionAdapter1765200000000 } from "./1765200000000-ExecutionAdapter.js";
import { Batches1765300000000 } from "./1765300000000-Batches.js";
import { ProgramLabels1765400000000 } from "./1765400000000-ProgramLabels.js";
import { Feedback1765500000000 } from "./1765500000000-Feedback.js";
import { Cost1765600000000 } from "./1765600000000-Cost.js";
import { Budgets1765700000000 } from "./1765700000000-Budgets.js";
import { LanguageModelLimits1765800000000 } from "./1765800000000-LanguageModelLimits.js";
import { RunCost1765900000000 } from "./1765900000000-RunCost.js";

/** Every migration, oldest first. */
export const MIGRATIONS = [Foundation1764100000000, Executions1764200000000, AgendaJobs1764200000001, ApiKeys1764300000000, AuditEvents1764400000010, LanguageModelSecrets1764500000000, Evaluations1764600000000, Optimizations1764700000000, OptimizationSchedules1764800000000, ExecutionLeases1764900000000, RunLeases1764900000001, NormalizedPrograms1764950000000, Corpora1765000000000, ExecutionTraceparent1765100000000, ExecutionAdapter1765200000000, Batches1765300000000, ProgramLabels1765400000000, Feedback1765500000000, Cost1765600000000, Budgets1765700000000, LanguageModelLimits1765800000000, RunCost1765900000000];
