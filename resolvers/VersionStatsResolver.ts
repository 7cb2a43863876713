import { Arg, Authorized, Ctx, Field, FieldResolver, Float, ID, Int, ObjectType, Resolver, Root } from "type-graphql";
import { Program, ProgramVersion } from "../entities/index.js";
import { Role } from "../src/auth/roles.js";
import type { VersionStats } from "../src/executions/VersionStats.js";
import type { GraphQLContext } from "../src/graphql/context.js";

@ObjectType({ description: "One version's executions, errors, latency, tokens and feedback over a window (Program.versionStats)." })
export class ProgramVersionStats {
  @Field(() => ID) versionId!: string;
  @Field(() => Int, { description: "Executions queued in the window." }) executions!: number;
  @Field(() => Int) completed!: number;
  @Field(() => Int) failed!: number;
  @Field(() => Int) cancelled!: number;
  @Field(() => Int, { description: "PENDING or RUNNING now." }) unfinished!: number;
  @Field(() => Float, { nullable: true, description: "failed / (completed + failed)." }) errorRate!: number | null;
  @Field(() => Float, { nullable: true, description: "Median milliseconds from queued to COMPLETED or FAILED." }) latencyP50Ms!: number | null;
  @Field(() => Float, { nullable: true, description: "95th percentile of the same." }) latencyP95Ms!: number | null;
  @Field(() => Int) promptTokens!: number;
  @Field(() => Int) completionTokens!: number;
  @Field(() => Int) totalTokens!: number;
  @Field(() => Float, { description: "USD: the executions' cost, where a price is known." }) cost!: number;
  @Field(() => Int, { description: "Feedback given in the window on its executions." }) feedbackCount!: number;
  @Field(() => Float, { nullable: true, description: "Their mean score (0–1)." }) feedbackScore!: number | null;
}

@Authorized(Role.VIEWER)
@Resolver(() => ProgramVersionStats)
export class VersionStatsResolver {
  @FieldResolver(() => ProgramVersion, { nullable: true })
  version(@Root() stats: VersionStats, @Ctx() ctx: GraphQLContext): Promise<ProgramVersion | null> {
    return ctx.services.programs.getVersion(ctx.scope, stats.versionId);
  }
}

@Authorized(Role.VIEWER)
@Resolver(() => Program)
export class ProgramVersionStatsField {
  @FieldResolver(() => [ProgramVersionStats], { description: "Per version, over the last `windowMinutes` (1 to 43200, default 60): executions queued, errors, latency, tokens and feedback, for comparing the versions a label splits between." })
  versionStats(@Root() program: Program, @Ctx() ctx: GraphQLContext, @Arg("windowMinutes", () => Int, { defaultValue: 60 }) windowMinutes: number): Promise<VersionStats[]> {
    return ctx.services.executions.versionStats(ctx.scope, program.id, windowMinutes);
  }
}
