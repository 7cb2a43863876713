import { NormalizedProgramSchema, PROGRAM_SCHEMA_DEFS } from "./programSchema.js";

/** The JSON Schema of a normalized program, as bridge-py/dspy_bridge/program.schema.json holds it. */
export function programSchemaJson(): string {
  // JSON.stringify drops TypeBox's symbol-keyed metadata; what is left is plain JSON Schema.
  return `${JSON.stringify({ $schema: "https://json-schema.org/draft/2020-12/schema", ...NormalizedProgramSchema, $defs: PROGRAM_SCHEMA_DEFS }, null, 2)}\n`;
}
