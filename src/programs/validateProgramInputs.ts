import type { IssueDetail } from "../errors.js";
import { jsonBytes } from "../validation.js";
import { checkValue, type FieldType, type NormalizedProgram } from "./definition/index.js";

export const MAX_INPUT_BYTES = 1_048_576;

/**
 * The inputs of one execution against the program's declared input fields: every declared field
 * present and of its type, nothing undeclared, and a size limit. Paths start at `rootPath`.
 */
export function validateProgramInputs(program: NormalizedProgram, inputs: unknown, rootPath: string): IssueDetail[] {
  if (inputs === null || typeof inputs !== "object" || Array.isArray(inputs)) return [{ path: rootPath, reason: "must be a JSON object of input fields" }];
  const bytes = jsonBytes(inputs);
  if (bytes > MAX_INPUT_BYTES) return [{ path: rootPath, reason: `is ${bytes} bytes of JSON; the limit is ${MAX_INPUT_BYTES}` }];
  const issues: IssueDetail[] = [];
  const given = inputs as Record<string, unknown>;
  for (const [name, spec] of Object.entries(program.inputs)) {
    if (!Object.hasOwn(given, name)) issues.push({ path: `${rootPath}.${name}`, reason: "is required" });
    else issues.push(...checkValue(given[name], spec.type, `${rootPath}.${name}`));
  }
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(program.inputs, name)) {
      const declared = Object.keys(program.inputs).join(", ") || "none";
      issues.push({ path: `${rootPath}.${name}`, reason: `is not an input of this program (declared: ${declared})` });
    }
  }
  return issues;
}

/**
 * Outputs someone says a program should have given (feedback's correctedOutputs): some or all of
 * its output fields, each of its type; at least one.
 */
export function validateProgramOutputs(program: NormalizedProgram, outputs: unknown, rootPath: string): IssueDetail[] {
  if (outputs === null || typeof outputs !== "object" || Array.isArray(outputs)) return [{ path: rootPath, reason: "must be a JSON object of output fields" }];
  const bytes = jsonBytes(outputs);
  if (bytes > MAX_INPUT_BYTES) return [{ path: rootPath, reason: `is ${bytes} bytes of JSON; the limit is ${MAX_INPUT_BYTES}` }];
  const given = outputs as Record<string, unknown>;
  const declared = Object.keys(program.outputs).join(", ") || "none";
  if (Object.keys(given).length === 0) return [{ path: rootPath, reason: `must give at least one output field (outputs: ${declared})` }];
  return Object.entries(given).flatMap(([name, value]) =>
    Object.hasOwn(program.outputs, name) ? checkValue(value, program.outputs[name]!.type, `${rootPath}.${name}`) : [{ path: `${rootPath}.${name}`, reason: `is not an output of this program (outputs: ${declared})` }],
  );
}

/**
 * The same rule as data, for the worker: a JSON Schema of the program's inputs (sent with the
 * program, bridge-py checks a run's inputs and an optimizer's examples with it). The byte limit
 * is checked where the inputs are received.
 */
export function inputsJsonSchema(program: NormalizedProgram): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(program.inputs)) properties[name] = fieldTypeJsonSchema(spec.type);
  return { type: "object", properties, required: Object.keys(program.inputs), additionalProperties: false };
}

function fieldTypeJsonSchema(type: FieldType): Record<string, unknown> {
  switch (type) {
    case "str":
      return { type: "string" };
    case "int":
      return { type: "integer" };
    case "float":
      return { type: "number" };
    case "bool":
      return { type: "boolean" };
    case "dict":
      return { type: "object" };
  }
  return "list" in type ? { type: "array", items: fieldTypeJsonSchema(type.list) } : { enum: type.enum };
}
