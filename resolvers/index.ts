import { ApiKeyResolver } from "./ApiKeyResolver.js";
import { BatchResolver } from "./BatchResolver.js";
import { AuditEventResolver } from "./AuditEventResolver.js";
import { CorpusResolver, DocumentResolver } from "./CorpusResolver.js";
import { DatasetResolver } from "./DatasetResolver.js";
import { EvaluationResolver, ProgramEvaluationsResolver } from "./EvaluationResolver.js";
import { ExecutionResolver } from "./ExecutionResolver.js";
import { ExecutionUpdatesResolver } from "./ExecutionUpdatesResolver.js";
import { ProgramLabelResolver, ProgramLabelsField } from "./ProgramLabelResolver.js";
import { ExecutionFeedbackField, FeedbackResolver } from "./FeedbackResolver.js";
import { LanguageModelResolver } from "./LanguageModelResolver.js";
import { OptimizationResolver, ProgramOptimizationsResolver } from "./OptimizationResolver.js";
import { OptimizationScheduleResolver } from "./OptimizationScheduleResolver.js";
import { ProgramChangedResolver } from "./ProgramChangedResolver.js";
import { ProgramResolver } from "./ProgramResolver.js";
import { ProgramVersionMutations } from "./ProgramVersionMutations.js";
import { ProgramVersionResolver } from "./ProgramVersionResolver.js";

export const RESOLVERS = [LanguageModelResolver, ProgramResolver, ProgramVersionResolver, ProgramChangedResolver, DatasetResolver, ExecutionResolver, ExecutionUpdatesResolver, BatchResolver, ApiKeyResolver, AuditEventResolver, EvaluationResolver, ProgramEvaluationsResolver, OptimizationResolver, ProgramOptimizationsResolver, OptimizationScheduleResolver, ProgramVersionMutations, CorpusResolver, DocumentResolver, ProgramLabelResolver, ProgramLabelsField, FeedbackResolver, ExecutionFeedbackField] as const;
