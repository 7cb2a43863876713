import { type MigrationInterface, type QueryRunner, TableColumn } from "typeorm";

/** LanguageModel API keys stored AES-256-GCM encrypted (README: "Secrets"). */
export class LanguageModelSecrets1764500000000 implements MigrationInterface {
  name = "LanguageModelSecrets1764500000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn("language_model", new TableColumn({ name: "apiKeyEncrypted", type: "text", isNullable: true }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn("language_model", "apiKeyEncrypted");
  }
}
