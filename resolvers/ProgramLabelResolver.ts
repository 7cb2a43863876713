import { Arg, Authorized, Ctx, Field, FieldResolver, Float, ID, InputType, Int, Mutation, ObjectType, Resolver, Root } from "type-graphql";
import { Program, ProgramVersion } from "../entities/index.js";
import { Role } from "../src/auth/roles.js";
import type { GraphQLContext } from "../src/graphql/context.js";
import type { LabelView } from "../src/programs/ProgramLabels.js";

@InputType({ description: "A version a label splits to, and its whole-number weight (1–10000)." })
export class LabelRouteInput {
  @Field(() => ID) versionId!: string;
  @Field(() => Int) weight!: number;
}

@InputType()
export class SetProgramLabelInput {
  @Field(() => ID) programId!: string;
  @Field({ description: "production, staging, canary…: 1–64 lower-case letters, digits, '-', '_', '.'. `current` promotes (one version only)." }) name!: string;
  @Field(() => ID, { nullable: true, description: "The one version the label points at (or give routes)." }) versionId?: string | null;
  @Field(() => [LabelRouteInput], { nullable: true, description: "A split: 1–10 versions with weights, e.g. 90 and 10." }) routes?: LabelRouteInput[] | null;
}

@ObjectType({ description: "A version a label sends executions to, and its share of them." })
export class LabelRouteView {
  @Field(() => ID) versionId!: string;
  @Field(() => Int, { description: "Its weight: it gets weight / (sum of the label's weights) of the executions." }) weight!: number;
  @Field(() => Float, { description: "weight / sum of the weights, 0–1." }) share!: number;
}

@ObjectType("ProgramLabel", { description: "A label of a program: a name executions run by (executeProgram(label:)), pointing at one version or split between versions by weight. `current` is the program's current version." })
export class ProgramLabelView {
  @Field(() => ID) programId!: string;
  @Field() name!: string;
  @Field(() => [LabelRouteView]) routes!: LabelRouteView[];
  @Field() updatedAt!: Date;
}

@Authorized(Role.VIEWER)
@Resolver(() => ProgramLabelView)
export class ProgramLabelResolver {
  @Authorized(Role.EDITOR)
  @Mutation(() => ProgramLabelView, {
    description: "Points a label at a version, or splits it between versions by weight (created if new; audited as program.set_label). Moving `current` promotes that version. Every problem is reported at its path; nothing is written then.",
  })
  setProgramLabel(@Arg("input", () => SetProgramLabelInput) input: SetProgramLabelInput, @Ctx() ctx: GraphQLContext): Promise<LabelView> {
    return ctx.services.programs.labels.set(ctx.scope, input);
  }

  @Authorized(Role.EDITOR)
  @Mutation(() => Boolean, { description: "Deletes a label (audited as program.delete_label); `current` cannot be deleted." })
  deleteProgramLabel(@Arg("programId", () => ID) programId: string, @Arg("name") name: string, @Ctx() ctx: GraphQLContext): Promise<boolean> {
    return ctx.services.programs.labels.remove(ctx.scope, programId, name);
  }

  @FieldResolver(() => [ProgramVersion], { description: "The versions it routes to, in the order of its routes." })
  async versions(@Root() label: LabelView, @Ctx() ctx: GraphQLContext): Promise<ProgramVersion[]> {
    const versions = await Promise.all(label.routes.map((r) => ctx.services.programs.getVersion(ctx.scope, r.versionId)));
    return versions.filter((v): v is ProgramVersion => v !== null);
  }
}

@Authorized(Role.VIEWER)
@Resolver(() => Program)
export class ProgramLabelsField {
  @FieldResolver(() => [ProgramLabelView], { description: "Its labels: `current` first, then the others by name." })
  labels(@Root() program: Program, @Ctx() ctx: GraphQLContext): Promise<LabelView[]> {
    return ctx.services.programs.labels.list(ctx.scope, program);
  }
}
