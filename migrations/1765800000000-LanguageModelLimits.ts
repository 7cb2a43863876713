import { type MigrationInterface, type QueryRunner, TableColumn } from "typeorm";

/** A language model's own requests and tokens per minute (per-LM limits). */
export class LanguageModelLimits1765800000000 implements MigrationInterface {
  name = "LanguageModelLimits1765800000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumns("language_model", [
      new TableColumn({ name: "requestsPerMinute", type: "integer", isNullable: true }),
      new TableColumn({ name: "tokensPerMinute", type: "integer", isNullable: true }),
    ]);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn("language_model", "tokensPerMinute");
    await queryRunner.dropColumn("language_model", "requestsPerMinute");
  }
}
