import { AgendaJob } from "./AgendaJob.js";
import { ApiKey } from "./ApiKey.js";
import { AuditEvent } from "./AuditEvent.js";
import { Dataset } from "./Dataset.js";
import { Evaluation } from "./Evaluation.js";
import { Example } from "./Example.js";
import { Execution } from "./Execution.js";
import { ExecutionEvent } from "./ExecutionEvent.js";
import { LanguageModel } from "./LanguageModel.js";
import { Optimization } from "./Optimization.js";
import { OptimizationSchedule } from "./OptimizationSchedule.js";
import { Program } from "./Program.js";
import { ProgramVersion } from "./ProgramVersion.js";

export { AgendaJob } from "./AgendaJob.js";
export { ApiKey } from "./ApiKey.js";
export { AuditActor, AuditEvent } from "./AuditEvent.js";
export { Dataset } from "./Dataset.js";
export { Evaluation, EvaluationProgress, type EvaluationResultRecord } from "./Evaluation.js";
export { Example, ExampleSplit } from "./Example.js";
export { Execution, ExecutionError, ExecutionStatus, ExecutionUsage, type UsageRecord } from "./Execution.js";
export { ExecutionEvent } from "./ExecutionEvent.js";
export { LanguageModel } from "./LanguageModel.js";
export { Optimization, OptimizationProgress, Optimizer } from "./Optimization.js";
export { OptimizationSchedule, SchedulePromotion } from "./OptimizationSchedule.js";
export { Program } from "./Program.js";
export { ProgramVersion, VersionSource } from "./ProgramVersion.js";

export const ENTITIES = [LanguageModel, Program, ProgramVersion, Dataset, Example, Execution, ExecutionEvent, AgendaJob, ApiKey, AuditEvent, Evaluation, Optimization, OptimizationSchedule];
