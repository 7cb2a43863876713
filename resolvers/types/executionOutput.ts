import { Field, ID, Int, ObjectType, registerEnumType } from "type-graphql";
import { Execution, ExecutionError, ExecutionStatus } from "../../entities/index.js";
import { GraphQLJSONObject } from "../../src/graphql/scalars.js";

export enum ExecutionOutputKind {
  DELTA = "DELTA",
  STATUS = "STATUS",
  TRANSITION = "TRANSITION",
  FINAL = "FINAL",
}

registerEnumType(ExecutionOutputKind, {
  name: "ExecutionOutputKind",
  description:
    "DELTA: a piece of an output field's text as the LM writes it. STATUS: a module call started or finished, a tool was called, a retrieval was done, an LM call is asked again. TRANSITION: the execution changed status without ending (a new attempt starts its output over). FINAL: it ended; the last event.",
});

@ObjectType({ description: "One event of executionOutput: a running execution's output as it is written, then its end." })
export class ExecutionOutput {
  @Field(() => ID) executionId!: string;
  @Field(() => ExecutionOutputKind) kind!: ExecutionOutputKind;
  @Field(() => Int, { description: "The attempt it belongs to. A later attempt's output starts over." }) attempt!: number;
  @Field(() => Int, { description: "1, 2, 3… per attempt, in order, without gaps for DELTA and STATUS; TRANSITION and FINAL carry the number of the last event before them." }) seq!: number;
  @Field(() => String, { nullable: true, description: "The module call (as the trace names it, e.g. answers[2].gen)." }) step!: string | null;
  @Field(() => String, { nullable: true, description: "The definition's module name." }) module!: string | null;
  @Field(() => String, { nullable: true, description: "DELTA: the output field of the module's signature (reasoning too, for ChainOfThought)." }) field!: string | null;
  @Field(() => String, { nullable: true, description: "DELTA: the text that follows what came before for this step and field. A str field's DELTAs concatenate to its value." }) text!: string | null;
  @Field(() => String, { nullable: true, description: "STATUS: module_start, module_end, tool_start, tool_end, retrieval_end or retry (the LM is asked again: what was streamed of that call does not stand)." }) event!: string | null;
  @Field(() => String, { nullable: true, description: "STATUS, TRANSITION, FINAL: what happened, for people." }) message!: string | null;
  @Field(() => GraphQLJSONObject, { nullable: true, description: "STATUS module_end: that module call's outputs. FINAL: the execution's outputs, when COMPLETED." }) outputs!: Record<string, unknown> | null;
  @Field(() => ExecutionStatus, { nullable: true, description: "TRANSITION, FINAL: the status it moved to." }) status!: ExecutionStatus | null;
  @Field(() => ExecutionError, { nullable: true, description: "FINAL, when FAILED: the error." }) error!: ExecutionError | null;
  @Field(() => Execution, { nullable: true, description: "TRANSITION, FINAL: the execution as that transition left it." }) execution!: Execution | null;
}
