import { GraphQLJSONObject } from "../src/graphql/scalars.js";
import { Directive, Field, Float, Int, ObjectType } from "type-graphql";
import { Column, Entity, Index } from "typeorm";
import { TenantScoped } from "./TenantScoped.js";

@Directive('@key(fields: "id")')
@ObjectType({ description: "An LM that programs run with: a litellm model string plus its settings." })
@Entity("language_model")
@Index("UQ_language_model_tenant_name", ["tenantId", "name"], { unique: true })
export class LanguageModel extends TenantScoped {
  @Field()
  @Column({ type: "varchar", length: 200 })
  name!: string;

  @Field({ description: "litellm model string, e.g. `openai/gpt-4o-mini`; `dummy` is DSPy's DummyLM for tests." })
  @Column({ type: "varchar", length: 200 })
  model!: string;

  @Field(() => String, { nullable: true })
  @Column({ type: "varchar", length: 2000, nullable: true })
  apiBase!: string | null;

  @Field(() => Float, { nullable: true })
  @Column({ type: "double", nullable: true })
  temperature!: number | null;

  @Field(() => Int, { nullable: true })
  @Column({ type: "integer", nullable: true })
  maxTokens!: number | null;

  @Field(() => Int, { nullable: true, description: "LM calls it may make per minute, across every instance (with Redis); a call waits for its turn while its run's deadline allows, else fails with LM_RATE_LIMITED." })
  @Column({ type: "integer", nullable: true })
  requestsPerMinute!: number | null;

  @Field(() => Int, { nullable: true, description: "Tokens (prompt and completion) its calls may use per minute, across every instance (with Redis); counted as calls are answered, later calls wait until they are paid back." })
  @Column({ type: "integer", nullable: true })
  tokensPerMinute!: number | null;

  @Field(() => Float, { nullable: true, description: "USD per million prompt tokens, overriding litellm's price for the model (set with outputCostPerMTokens)." })
  @Column({ type: "double", nullable: true })
  inputCostPerMTokens!: number | null;

  @Field(() => Float, { nullable: true, description: "USD per million completion tokens, overriding litellm's price for the model (set with inputCostPerMTokens)." })
  @Column({ type: "double", nullable: true })
  outputCostPerMTokens!: number | null;

  @Field()
  @Column({ type: "boolean", default: true })
  cache!: boolean;

  /** Name of the environment variable holding the API key. Never exposed: see `hasSecret`. */
  @Column({ type: "varchar", length: 200, nullable: true })
  secretEnv!: string | null;

  /**
   * The API key, AES-256-GCM encrypted (src/secrets/SecretBox.ts): decrypted only when a request to
   * a worker needs it. Never exposed: see `hasSecret`.
   */
  @Column({ type: "text", nullable: true })
  apiKeyEncrypted!: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true, description: "Provider-specific settings (for `dummy`: `{ answers }`)." })
  @Column({ type: "json", nullable: true })
  config!: Record<string, unknown> | null;

  @Field({ description: "Whether an API key is configured (stored encrypted, or named by secretEnv). Neither is ever returned." })
  get hasSecret(): boolean {
    return Boolean(this.secretEnv) || Boolean(this.apiKeyEncrypted);
  }
}
