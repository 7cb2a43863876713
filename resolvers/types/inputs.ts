import { GraphQLJSON, GraphQLJSONObject } from "../../src/graphql/scalars.js";
import { Field, Float, ID, InputType, Int } from "type-graphql";
import { ExampleSplit } from "../../entities/index.js";

const API_KEY_DESCRIPTION =
  "Write-only: the API key, stored AES-256-GCM encrypted (needs SECRETS_KEY on the server) and never returned (see `hasSecret`). Not together with `secretEnv`; `null` clears it.";

@InputType({ description: "A new language model. `secretEnv` names the environment variable that holds its API key." })
export class CreateLanguageModelInput {
  @Field() name!: string;
  @Field() model!: string;
  @Field(() => String, { nullable: true }) apiBase?: string | null;
  @Field(() => Float, { nullable: true }) temperature?: number | null;
  @Field(() => Int, { nullable: true }) maxTokens?: number | null;
  @Field(() => Boolean, { nullable: true }) cache?: boolean | null;
  @Field(() => String, { nullable: true }) secretEnv?: string | null;
  @Field(() => String, { nullable: true, description: API_KEY_DESCRIPTION }) apiKey?: string | null;
  @Field(() => Int, { nullable: true, description: "LM calls per minute (1–10,000,000), across every instance with Redis." }) requestsPerMinute?: number | null;
  @Field(() => Int, { nullable: true, description: "Tokens per minute (1–2,000,000,000), across every instance with Redis." }) tokensPerMinute?: number | null;
  @Field(() => Float, { nullable: true, description: "USD per million prompt tokens (with outputCostPerMTokens): overrides litellm's price for the model." }) inputCostPerMTokens?: number | null;
  @Field(() => Float, { nullable: true, description: "USD per million completion tokens (with inputCostPerMTokens)." }) outputCostPerMTokens?: number | null;
  @Field(() => GraphQLJSONObject, { nullable: true }) config?: Record<string, unknown> | null;
}

@InputType({ description: "Fields left out are unchanged; `null` clears an optional field." })
export class UpdateLanguageModelInput {
  @Field(() => ID) id!: string;
  @Field(() => Int, { nullable: true, description: "Fail with CONFLICT unless the model is at this version." }) expectedVersion?: number | null;
  @Field(() => String, { nullable: true }) name?: string;
  @Field(() => String, { nullable: true }) model?: string;
  @Field(() => String, { nullable: true }) apiBase?: string | null;
  @Field(() => Float, { nullable: true }) temperature?: number | null;
  @Field(() => Int, { nullable: true }) maxTokens?: number | null;
  @Field(() => Boolean, { nullable: true }) cache?: boolean | null;
  @Field(() => String, { nullable: true }) secretEnv?: string | null;
  @Field(() => String, { nullable: true, description: API_KEY_DESCRIPTION }) apiKey?: string | null;
  @Field(() => Int, { nullable: true, description: "LM calls per minute (1–10,000,000), across every instance with Redis." }) requestsPerMinute?: number | null;
  @Field(() => Int, { nullable: true, description: "Tokens per minute (1–2,000,000,000), across every instance with Redis." }) tokensPerMinute?: number | null;
  @Field(() => Float, { nullable: true, description: "USD per million prompt tokens (with outputCostPerMTokens): overrides litellm's price for the model." }) inputCostPerMTokens?: number | null;
  @Field(() => Float, { nullable: true, description: "USD per million completion tokens (with inputCostPerMTokens)." }) outputCostPerMTokens?: number | null;
  @Field(() => GraphQLJSONObject, { nullable: true }) config?: Record<string, unknown> | null;
}

@InputType()
export class LanguageModelFilter {
  @Field(() => String, { nullable: true }) name?: string | null;
  @Field(() => String, { nullable: true }) model?: string | null;
}

@InputType({ description: "A new program; its definition becomes version 1." })
export class CreateProgramInput {
  @Field() name!: string;
  @Field(() => String, { nullable: true }) description?: string | null;
  @Field(() => GraphQLJSON) definition!: unknown;
  @Field(() => ID, { nullable: true }) languageModelId?: string | null;
}

@InputType({ description: "A changed definition creates the next version; other fields change in place." })
export class UpdateProgramInput {
  @Field(() => ID) id!: string;
  @Field(() => Int, { nullable: true, description: "Fail with CONFLICT unless the program is at this version." }) expectedVersion?: number | null;
  @Field(() => String, { nullable: true }) name?: string | null;
  @Field(() => String, { nullable: true }) description?: string | null;
  @Field(() => GraphQLJSON, { nullable: true }) definition?: unknown;
  @Field(() => ID, { nullable: true }) languageModelId?: string | null;
}

@InputType()
export class ProgramFilter {
  @Field(() => String, { nullable: true, description: "Exact name." }) name?: string | null;
  @Field(() => String, { nullable: true, description: "Case-insensitive substring of the name." }) nameContains?: string | null;
  @Field(() => ID, { nullable: true }) languageModelId?: string | null;
}

@InputType()
export class ExampleInput {
  @Field(() => GraphQLJSONObject) inputs!: Record<string, unknown>;
  @Field(() => GraphQLJSONObject, { nullable: true }) labels?: Record<string, unknown> | null;
  @Field(() => ExampleSplit, { nullable: true, description: "Defaults to TRAIN." }) split?: ExampleSplit | null;
}

@InputType()
export class CreateDatasetInput {
  @Field() name!: string;
  @Field(() => String, { nullable: true }) description?: string | null;
  @Field(() => [ExampleInput], { nullable: true }) examples?: ExampleInput[] | null;
}

@InputType({ description: "Examples to add in one all-or-nothing batch." })
export class AddExamplesInput {
  @Field(() => ID) datasetId!: string;
  @Field(() => [ExampleInput]) examples!: ExampleInput[];
}

@InputType()
export class DatasetFilter {
  @Field(() => String, { nullable: true }) name?: string | null;
}

@InputType({ description: "Runs a program version (the current one by default) once per input, as one batch of queued executions." })
export class ExecuteProgramBatchInput {
  @Field(() => ID) programId!: string;
  @Field(() => ID, { nullable: true, description: "A version of this program; default: its current version." }) versionId?: string | null;
  @Field(() => [GraphQLJSON], { description: "One execution per element (1 to 1,000), each a JSON object of the version's input fields. All are checked before any is created." }) inputs!: unknown[];
  @Field(() => String, { nullable: true, description: "The same key with the same request returns the same batch." }) idempotencyKey?: string | null;
  @Field(() => String, { nullable: true, description: "Run the version a label of the program chooses, one for the whole batch, instead of versionId." }) label?: string | null;
  @Field(() => String, { nullable: true, description: "With a split label: the key that chooses the batch's version (else at random)." }) routingKey?: string | null;
}

@InputType({ description: "Runs a program version (the current one by default) on inputs, as a queued job." })
export class ExecuteProgramInput {
  @Field(() => ID) programId!: string;
  @Field(() => ID, { nullable: true, description: "A version of this program; default: its current version." }) versionId?: string | null;
  @Field(() => GraphQLJSON, { description: "One value per input field the version declares, of its type." }) inputs!: unknown;
  @Field(() => String, { nullable: true, description: "The same key with the same request returns the same execution." }) idempotencyKey?: string | null;
  @Field(() => Boolean, { nullable: true, description: "Return once the execution is terminal (or the wait times out), not when it is queued." }) wait?: boolean | null;
  @Field(() => Int, { nullable: true, description: "Longest wait in milliseconds, at most the server's EXECUTION_WAIT_MAX_MS." }) waitTimeoutMs?: number | null;
  @Field(() => String, { nullable: true, description: "Run the version a label of the program chooses (production, a 90/10 split…) instead of versionId; `current` is the current version." }) label?: string | null;
  @Field(() => String, { nullable: true, description: "With a split label: the same key gets the same version while the split stays (a user or session id, up to 200 characters). Without one the version is drawn at random." }) routingKey?: string | null;
}
