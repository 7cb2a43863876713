import { Arg, Authorized, Ctx, Field, FieldResolver, Float, ID, Int, Mutation, ObjectType, Query, Resolver, Root } from "type-graphql";
import { Corpus, Document } from "../entities/index.js";
import { Role } from "../src/auth/roles.js";
import { decodeVector } from "../src/corpora/vectors.js";
import type { GraphQLContext } from "../src/graphql/context.js";
import { type ConnectionShape, toConnection } from "./types/connection.js";
import { CorpusConnection, DocumentConnection } from "./types/connections.js";
import { AddDocumentsInput, CorpusFilter, CreateCorpusInput, SearchCorpusInput } from "./types/corpusInputs.js";

@ObjectType()
export class AddDocumentsPayload {
  @Field(() => Corpus) corpus!: Corpus;
  @Field(() => [Document], { description: "The documents added, in input order (not embedded yet)." }) documents!: Document[];
}

@ObjectType({ description: "One search hit: a document and its cosine similarity to the query (-1 … 1)." })
export class CorpusSearchHit {
  @Field(() => ID) documentId!: string;
  @Field() text!: string;
  @Field(() => Float) score!: number;
}

@Authorized(Role.VIEWER)
@Resolver(() => Corpus)
export class CorpusResolver {
  @Authorized(Role.VIEWER)
  @Query(() => Corpus, { nullable: true })
  corpus(@Arg("id", () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Corpus | null> {
    return ctx.services.corpora.get(ctx.scope, id);
  }

  @Authorized(Role.VIEWER)
  @Query(() => CorpusConnection)
  async corpora(
    @Ctx() ctx: GraphQLContext,
    @Arg("first", () => Int, { nullable: true }) first?: number,
    @Arg("after", () => String, { nullable: true }) after?: string,
    @Arg("filter", () => CorpusFilter, { nullable: true }) filter?: CorpusFilter,
  ): Promise<ConnectionShape<Corpus>> {
    return toConnection(await ctx.services.corpora.list(ctx.scope, filter, { first, after }));
  }

  @Authorized(Role.VIEWER)
  @Query(() => [CorpusSearchHit], { description: "Top-k documents of a corpus for a query, by embedding similarity (runs on a worker)." })
  async searchCorpus(@Arg("input", () => SearchCorpusInput) input: SearchCorpusInput, @Ctx() ctx: GraphQLContext): Promise<CorpusSearchHit[]> {
    const hits = await ctx.services.corpora.search(ctx.scope, input);
    return hits.map((hit) => ({ documentId: hit.id, text: hit.text, score: hit.score }));
  }

  @Authorized(Role.EDITOR)
  @Mutation(() => Corpus)
  createCorpus(@Arg("input", () => CreateCorpusInput) input: CreateCorpusInput, @Ctx() ctx: GraphQLContext): Promise<Corpus> {
    return ctx.services.corpora.create(ctx.scope, input);
  }

  @Authorized(Role.EDITOR)
  @Mutation(() => AddDocumentsPayload)
  addDocuments(@Arg("input", () => AddDocumentsInput) input: AddDocumentsInput, @Ctx() ctx: GraphQLContext): Promise<AddDocumentsPayload> {
    return ctx.services.corpora.addDocuments(ctx.scope, input.corpusId, input.documents);
  }

  @Authorized(Role.EDITOR)
  @Mutation(() => ID, { description: "Deletes the corpus and its documents. Returns its id." })
  deleteCorpus(@Arg("id", () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<string> {
    return ctx.services.corpora.delete(ctx.scope, id);
  }

  @FieldResolver(() => DocumentConnection)
  async documents(
    @Root() corpus: Corpus,
    @Ctx() ctx: GraphQLContext,
    @Arg("first", () => Int, { nullable: true }) first?: number,
    @Arg("after", () => String, { nullable: true }) after?: string,
  ): Promise<ConnectionShape<Document>> {
    return toConnection(await ctx.services.corpora.documents(ctx.scope, corpus.id, { first, after }));
  }

  @FieldResolver(() => Int)
  documentCount(@Root() corpus: Corpus, @Ctx() ctx: GraphQLContext): Promise<number> {
    return ctx.services.corpora.countDocuments(ctx.scope, corpus.id);
  }

  @FieldResolver(() => Int, { description: "Documents that have their vector; equals documentCount once READY." })
  embeddedCount(@Root() corpus: Corpus, @Ctx() ctx: GraphQLContext): Promise<number> {
    return ctx.services.corpora.countDocuments(ctx.scope, corpus.id, true);
  }
}

@Resolver(() => Document)
export class DocumentResolver {
  @FieldResolver(() => [Float], { nullable: true, description: "The L2-normalized embedding (null until embedded)." })
  embedding(@Root() document: Document): number[] | null {
    return document.embedding ? Array.from(decodeVector(document.embedding)) : null;
  }
}
