import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { METRIC_KIND_ENTRIES } from "../../catalog.js";

/*
 * The normalized program: what the server stores with each version and sends to workers. One
 * declaration gives both the TypeScript types (Static<…>) and the JSON Schema the worker checks a
 * program against (bridge-py/dspy_bridge/program.schema.json, written by `npm run schema`; a test
 * fails when the committed file differs). The rules that need more than a shape (references,
 * types flowing between steps, names DSPy cannot take) are the validator's (validateProgramDefinition).
 */

const Name = Type.String({ pattern: "^[A-Za-z][A-Za-z0-9_]*$", maxLength: 64 });
const Scalar = Type.Union([Type.String(), Type.Number(), Type.Boolean()]);
const Dict = <T extends TSchema>(value: T) => Type.Record(Type.String(), value);

export const FieldTypeSchema = Type.Recursive(
  (self) =>
    Type.Union([
      Type.Union([Type.Literal("str"), Type.Literal("int"), Type.Literal("float"), Type.Literal("bool"), Type.Literal("dict")]),
      Type.Object({ list: self }, { additionalProperties: false }),
      Type.Object({ enum: Type.Array(Scalar, { minItems: 1 }) }, { additionalProperties: false }),
    ]),
  { $id: "FieldType" },
);

const FieldTypeRef = Type.Ref(FieldTypeSchema);
const FieldSpecSchema = Type.Object({ type: FieldTypeRef, desc: Type.Optional(Type.String()) }, { additionalProperties: false });

const SignatureSchema = Type.Object(
  { instructions: Type.Optional(Type.String()), inputs: Dict(FieldSpecSchema), outputs: Dict(FieldSpecSchema) },
  { additionalProperties: false },
);

/** A stored program version another one uses (a tool, a judge), pinned when the definition is written. */
const ProgramRefSchema = Type.Object({ programId: Type.String(), versionId: Type.String() }, { additionalProperties: false });

/** BestOfN / Refine: a metric kind over the module's outputs against an input, a literal, or a judge. */
const RewardSchema = Type.Object(
  {
    kind: Type.String(),
    output: Name,
    /** The module input the output is compared with, or `value`. */
    input: Type.Optional(Name),
    value: Type.Optional(Type.Unknown()),
    tolerance: Type.Optional(Type.Number({ minimum: 0 })),
    judge: Type.Optional(
      Type.Object(
        { program: ProgramRefSchema, score: Name, inputs: Dict(Type.String({ pattern: "^(input|output)\\.[A-Za-z][A-Za-z0-9_]*$" })) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

const HttpToolSchema = Type.Object(
  {
    method: Type.Union([Type.Literal("GET"), Type.Literal("POST"), Type.Literal("PUT"), Type.Literal("PATCH"), Type.Literal("DELETE")]),
    /** `{arg}` placeholders are replaced by the URL-encoded argument. */
    url: Type.String(),
    /** A JSON template: a string "{arg}" that is exactly one placeholder becomes the argument's value. */
    body: Type.Optional(Type.Unknown()),
    /** Header name → the environment variable (an allowed secret) holding its value. */
    headers: Dict(Type.String()),
    /** Dotted path into the JSON response ("" for the whole body). */
    response: Type.String(),
  },
  { additionalProperties: false },
);

const NamedToolSchema = Type.Object(
  {
    name: Name,
    description: Type.String(),
    /** Argument name → field spec; for a program tool, the program's inputs. */
    args: Dict(FieldSpecSchema),
    program: Type.Optional(ProgramRefSchema),
    http: Type.Optional(HttpToolSchema),
  },
  { additionalProperties: false },
);

/** Tools of an MCP server (streamable HTTP), each listed by the server when the definition was written. */
const McpToolsSchema = Type.Object(
  {
    mcp: Type.Object(
      {
        url: Type.String(),
        headers: Dict(Type.String()),
        tools: Type.Array(Type.Object({ name: Type.String(), description: Type.String(), inputSchema: Type.Record(Type.String(), Type.Unknown()) }, { additionalProperties: false })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const ToolSchema = Type.Union([NamedToolSchema, McpToolsSchema]);

export const ModuleSpecSchema = Type.Object(
  {
    /** A key of the catalog's moduleTypes (bridge-py/dspy_bridge/catalog.json). */
    type: Type.String(),
    signature: SignatureSchema,
    /** Every option of the type (the catalog's), defaults filled in. */
    config: Dict(Type.Unknown()),
    reward: Type.Optional(RewardSchema),
    tools: Type.Optional(Type.Array(ToolSchema)),
    corpus: Type.Optional(Type.Object({ corpusId: Type.String() }, { additionalProperties: false })),
    /** A server the module reads (ColBERTv2). */
    url: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

const RefSchema = Type.Object({ step: Type.String(), field: Type.String() }, { additionalProperties: false });
const BindingSchema = Type.Union([
  Type.Object({ ref: RefSchema }, { additionalProperties: false }),
  Type.Object({ literal: Type.Unknown() }, { additionalProperties: false }),
]);
const ConditionSchema = Type.Object({ ref: RefSchema, equals: Scalar }, { additionalProperties: false });

export const StepSchema = Type.Recursive(
  (self) =>
    Type.Union([
      Type.Object({ call: Name, with: Dict(BindingSchema), as: Name }, { additionalProperties: false }),
      Type.Object({ return: Dict(BindingSchema) }, { additionalProperties: false }),
      /** For each element of a list: `$as.item` / `$as.index` inside; after it, `$as.<f>` is the list of each run's return f. */
      Type.Object({ map: BindingSchema, as: Name, parallel: Type.Integer({ minimum: 1 }), steps: Type.Array(self) }, { additionalProperties: false }),
      /** Up to max rounds of steps; vars are `$as.<var>`, updated after each round: set, then append (one element) and extend (a list). */
      Type.Object(
        {
          loop: Type.Object({ max: Type.Integer({ minimum: 1 }), until: Type.Optional(ConditionSchema) }, { additionalProperties: false }),
          as: Name,
          vars: Dict(Type.Object({ type: FieldTypeRef, value: BindingSchema }, { additionalProperties: false })),
          steps: Type.Array(self),
          set: Dict(BindingSchema),
          append: Dict(BindingSchema),
          extend: Dict(BindingSchema),
        },
        { additionalProperties: false },
      ),
      /** One branch by a bool or enum field; both end with a return of the same outputs, `$as.<f>` after it. */
      Type.Object({ if: ConditionSchema, as: Name, then: Type.Array(self), else: Type.Array(self) }, { additionalProperties: false }),
    ]),
  { $id: "Step" },
);

export const NormalizedProgramSchema = Type.Object(
  {
    inputs: Dict(FieldSpecSchema),
    outputs: Dict(FieldSpecSchema),
    modules: Dict(ModuleSpecSchema),
    forward: Type.Array(Type.Ref(StepSchema)),
  },
  { additionalProperties: false, title: "A normalized DSPy program definition" },
);

/**
 * A declarative metric as the worker receives it (`evaluate` / `compile`): the server checked it
 * against the program and the dataset (src/evaluations/metrics.ts); the worker checks this shape.
 */
export const MetricSpecSchema = Type.Object(
  {
    kind: Type.String({ enum: Object.keys(METRIC_KIND_ENTRIES) }),
    output: Type.String({ minLength: 1 }),
    label: Type.String({ minLength: 1 }),
    tolerance: Type.Optional(Type.Number({ minimum: 0 })),
    judge: Type.Optional(
      Type.Object(
        {
          program: NormalizedProgramSchema,
          lm_key: Type.String({ minLength: 1 }),
          score: Type.String(),
          inputs: Dict(Type.String({ pattern: "^(input|output|label)\\.[A-Za-z][A-Za-z0-9_]*$" })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, allOf: kindOnlyKeys() },
);

/** A key only some metric kinds take (the catalog's `keys`: tolerance, judge) is absent from the others. */
function kindOnlyKeys(): Record<string, unknown>[] {
  const entries = Object.entries(METRIC_KIND_ENTRIES);
  const keys = [...new Set(entries.flatMap(([, entry]) => entry.keys))];
  return keys.map((key) => ({
    if: { type: "object", required: ["kind"], properties: { kind: { enum: entries.filter(([, entry]) => !entry.keys.includes(key)).map(([kind]) => kind) } } },
    then: { not: { required: [key] } },
  }));
}

/** The recursive parts, referenced by $id from the root ($defs of the written schema), and the metric's shape. */
export const PROGRAM_SCHEMA_DEFS = { FieldType: FieldTypeSchema, Step: StepSchema, MetricSpec: MetricSpecSchema };

export type FieldType = Static<typeof FieldTypeSchema>;
export type FieldSpec = Static<typeof FieldSpecSchema>;
export type SignatureSpec = Static<typeof SignatureSchema>;
export type ProgramRef = Static<typeof ProgramRefSchema>;
export type RewardSpec = Static<typeof RewardSchema>;
export type HttpToolSpec = Static<typeof HttpToolSchema>;
export type ToolSpec = Static<typeof ToolSchema>;
export type NamedToolSpec = Static<typeof NamedToolSchema>;
export type McpToolsSpec = Static<typeof McpToolsSchema>;
export type ModuleSpec = Static<typeof ModuleSpecSchema>;
export type Ref = Static<typeof RefSchema>;
export type Binding = Static<typeof BindingSchema>;
export type Condition = Static<typeof ConditionSchema>;
export type Step = Static<typeof StepSchema>;
export type NormalizedProgram = Static<typeof NormalizedProgramSchema>;
