import { type MigrationInterface, type QueryRunner, TableColumn } from "typeorm";

/**
 * Each version stores its normalized program (what workers run) next to the definition as written.
 * Versions written before this have none; programOf() normalizes their definition when they run.
 */
export class NormalizedPrograms1764950000000 implements MigrationInterface {
  name = "NormalizedPrograms1764950000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn("program_version", new TableColumn({ name: "normalized", type: "json", isNullable: true }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn("program_version", "normalized");
  }
}
