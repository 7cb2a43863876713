import { ExampleSplit } from "../../entities/index.js";
import { AppError } from "../errors.js";
import { FIELD_NAME, IssueList, describe } from "../validation.js";

export interface ExampleFields {
  inputs: Record<string, unknown>;
  labels?: Record<string, unknown> | null;
  split?: ExampleSplit | null;
}

export const DATASET_LIMITS = { maxExamplesPerCall: 1000, maxExampleBytes: 65_536, maxFieldsPerExample: 64, maxDescription: 10_000 } as const;

const SPLITS = new Set<string>(Object.values(ExampleSplit));

export function validateDatasetFields(input: { name?: unknown; description?: unknown }, issues: IssueList): void {
  issues.name("input.name", input.name);
  issues.optionalText("input.description", input.description, DATASET_LIMITS.maxDescription);
}

/**
 * Checks a batch of examples: each has an `inputs` object and an optional `labels` object whose
 * keys are field names (they become `dspy.Example` fields, so a key may not be both), a size limit,
 * and a split. Reports every problem with its path; throws nothing when the batch is empty.
 */
export function validateExamples(examples: unknown, path: string, issues: IssueList): void {
  if (!Array.isArray(examples)) return issues.add(path, `must be a list of examples, got ${describe(examples)}`);
  if (examples.length > DATASET_LIMITS.maxExamplesPerCall) {
    return issues.add(path, `has ${examples.length} examples; at most ${DATASET_LIMITS.maxExamplesPerCall} can be added in one call`);
  }
  examples.forEach((example: Partial<ExampleFields>, i) => {
    const at = `${path}[${i}]`;
    const inputsOk = issues.jsonObject(`${at}.inputs`, example.inputs, DATASET_LIMITS.maxExampleBytes);
    const labels = example.labels ?? {};
    const labelsOk = issues.jsonObject(`${at}.labels`, labels, DATASET_LIMITS.maxExampleBytes);
    if (inputsOk) {
      if (Object.keys(example.inputs as object).length === 0) issues.add(`${at}.inputs`, "must have at least one field");
      checkKeys(`${at}.inputs`, example.inputs as Record<string, unknown>, issues);
    }
    if (labelsOk) checkKeys(`${at}.labels`, labels, issues);
    if (inputsOk && labelsOk) {
      for (const key of Object.keys(labels)) {
        if (Object.hasOwn(example.inputs as object, key)) issues.add(`${at}.labels.${key}`, `'${key}' is also an input; a field is either an input or a label`);
      }
    }
    if (example.split != null && !SPLITS.has(example.split)) issues.add(`${at}.split`, `must be one of train, dev, test`);
  });
}

export function throwIfIssues(issues: IssueList): void {
  if (!issues.empty) throw AppError.fromIssues(issues.issues);
}

function checkKeys(path: string, value: Record<string, unknown>, issues: IssueList): void {
  const keys = Object.keys(value);
  if (keys.length > DATASET_LIMITS.maxFieldsPerExample) issues.add(path, `has ${keys.length} fields; the limit is ${DATASET_LIMITS.maxFieldsPerExample}`);
  for (const key of keys) {
    if (!FIELD_NAME.test(key) || key.length > 64) issues.add(`${path}[${JSON.stringify(key)}]`, `'${key}' is not a valid field name (a letter, then letters, digits or _)`);
  }
}
