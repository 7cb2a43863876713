import { Batch, Corpus, Dataset, Document, Evaluation, Example, Execution, LanguageModel, Optimization, OptimizationSchedule, Program, ProgramVersion } from "../../entities/index.js";
import { connectionType } from "./connection.js";

export const LanguageModelConnection = connectionType(LanguageModel, "LanguageModel");
export const ProgramConnection = connectionType(Program, "Program");
export const ProgramVersionConnection = connectionType(ProgramVersion, "ProgramVersion");
export const DatasetConnection = connectionType(Dataset, "Dataset");
export const ExampleConnection = connectionType(Example, "Example");
export const ExecutionConnection = connectionType(Execution, "Execution");
export const EvaluationConnection = connectionType(Evaluation, "Evaluation");
export const OptimizationConnection = connectionType(Optimization, "Optimization");
export const OptimizationScheduleConnection = connectionType(OptimizationSchedule, "OptimizationSchedule");
export const CorpusConnection = connectionType(Corpus, "Corpus");
export const DocumentConnection = connectionType(Document, "Document");
export const BatchConnection = connectionType(Batch, "Batch");
