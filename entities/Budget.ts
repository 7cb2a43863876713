import { Field, Float, ID, ObjectType, registerEnumType } from "type-graphql";
import { Column, Entity, Index } from "typeorm";
import { TenantScoped } from "./TenantScoped.js";

export enum BudgetPeriod {
  DAY = "DAY",
  MONTH = "MONTH",
}
registerEnumType(BudgetPeriod, { name: "BudgetPeriod", description: "A UTC calendar day or month." });

/** A spending limit per UTC day or month, for the whole tenant or one of its language models. */
@ObjectType({ description: "A spending limit (USD) per UTC day or month, for the whole tenant or one language model: runs are refused with BUDGET_EXCEEDED once the period's spend has reached it." })
@Entity("budget")
@Index("UQ_budget_scope", ["tenantId", "scopeKey", "period"], { unique: true })
export class Budget extends TenantScoped {
  @Field(() => ID, { nullable: true, description: "The language model it limits; null: the whole tenant." })
  @Column({ type: "varchar", length: 36, nullable: true })
  languageModelId!: string | null;

  /** `tenant` or the language model's id: one budget per scope and period. */
  @Column({ type: "varchar", length: 36 })
  scopeKey!: string;

  @Field(() => BudgetPeriod)
  @Column({ type: "varchar", length: 8 })
  period!: BudgetPeriod;

  @Field(() => Float, { description: "USD per period." })
  @Column({ type: "double" })
  limitUsd!: number;
}
