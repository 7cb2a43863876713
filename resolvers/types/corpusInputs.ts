import { GraphQLJSONObject } from "../../src/graphql/scalars.js";
import { Field, ID, InputType, Int } from "type-graphql";
import { CorpusStatus } from "../../entities/index.js";

@InputType({ description: "A new corpus. `embeddingModel`: `local/all-MiniLM-L6-v2` (the default; runs in the workers, offline) or a litellm embedding model string." })
export class CreateCorpusInput {
  @Field() name!: string;
  @Field(() => String, { nullable: true }) description?: string | null;
  @Field(() => String, { nullable: true }) embeddingModel?: string | null;
}

@InputType()
export class DocumentInput {
  @Field() text!: string;
  @Field(() => String, { nullable: true }) title?: string | null;
  @Field(() => GraphQLJSONObject, { nullable: true }) metadata?: Record<string, unknown> | null;
}

@InputType({ description: "Up to 1,000 documents, all stored or none; they are embedded in the background (Corpus.status, embeddedCount)." })
export class AddDocumentsInput {
  @Field(() => ID) corpusId!: string;
  @Field(() => [DocumentInput]) documents!: DocumentInput[];
}

@InputType()
export class CorpusFilter {
  @Field(() => String, { nullable: true, description: "Exact name." }) name?: string | null;
  @Field(() => String, { nullable: true, description: "Case-insensitive substring of the name." }) nameContains?: string | null;
  @Field(() => CorpusStatus, { nullable: true }) status?: CorpusStatus | null;
}

@InputType({ description: "A query against a corpus's embedded documents." })
export class SearchCorpusInput {
  @Field(() => ID) corpusId!: string;
  @Field() query!: string;
  @Field(() => Int, { nullable: true, description: "1–100; default 5." }) k?: number | null;
}
