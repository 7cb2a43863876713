import { Field, Int, ObjectType } from "type-graphql";
import { GraphQLJSON, GraphQLJSONObject } from "../../src/graphql/scalars.js";

@ObjectType({ description: "A field of a module's signature or of a tool's arguments." })
export class SignatureField {
  @Field() name!: string;
  @Field({ description: "str, int, float, bool, dict, list[T] or enum[a, b]." }) type!: string;
  @Field(() => String, { nullable: true }) description!: string | null;
  @Field(() => [GraphQLJSON], { nullable: true, description: "An enum's values." }) values!: unknown[] | null;
}

@ObjectType({ description: "A ReAct tool: a stored program run as a nested call, or an HTTP call." })
export class ModuleTool {
  @Field() name!: string;
  @Field() description!: string;
  @Field({ description: "program, http or mcp." }) kind!: string;
  @Field(() => String, { nullable: true }) programId!: string | null;
  @Field(() => String, { nullable: true, description: "The version the tool is pinned to." }) versionId!: string | null;
  @Field(() => [SignatureField]) args!: SignatureField[];
}

@ObjectType({ description: "A module of a program version: its type, options, signature, and what optimization gave it." })
export class ProgramModule {
  @Field() name!: string;
  @Field({ description: "A module type of the catalog (bridge-py/dspy_bridge/catalog.json): Predict, ChainOfThought, MultiChainComparison, BestOfN, Refine, ReAct, ProgramOfThought, Retrieve, ColBERTv2." }) type!: string;
  @Field(() => GraphQLJSONObject, { description: "Every option of the type, defaults filled in." }) config!: Record<string, unknown>;
  @Field(() => String, { nullable: true, description: "The instructions it runs with: an optimization's, else the signature's." }) instructions!: string | null;
  @Field(() => [SignatureField]) inputs!: SignatureField[];
  @Field(() => [SignatureField], { description: "The signature's outputs (without those the type adds, such as reasoning)." }) outputs!: SignatureField[];
  @Field(() => [String], { description: "Its predictors as DSPy names them (named_predictors(), dump_state() keys)." }) predictors!: string[];
  @Field(() => Int, { description: "Demos its predictors hold in this version's compiled state." }) demos!: number;
  @Field(() => [ModuleTool]) tools!: ModuleTool[];
  @Field(() => String, { nullable: true }) corpusId!: string | null;
  @Field(() => String, { nullable: true, description: "The server a ColBERTv2 module reads." }) url!: string | null;
}
