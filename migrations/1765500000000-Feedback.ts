import { type MigrationInterface, type QueryRunner, Table, TableColumn, TableForeignKey, TableIndex } from "typeorm";
import { tenantScopedColumns, varchar } from "./columns.js";

/** Feedback on executions (submitFeedback), and the feedback an example was made from (addExamplesFromFeedback). */
export class Feedback1765500000000 implements MigrationInterface {
  name = "Feedback1765500000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: "feedback",
        columns: [
          ...tenantScopedColumns(queryRunner),
          varchar("executionId", 36),
          varchar("programId", 36),
          varchar("programVersionId", 36),
          varchar("subject", 200),
          { name: "score", type: "float", isNullable: false },
          { name: "comment", type: "text", isNullable: true },
          { name: "correctedOutputs", type: "json", isNullable: true },
        ],
        indices: [
          new TableIndex({ name: "UQ_feedback_caller", columnNames: ["tenantId", "executionId", "subject"], isUnique: true }),
          new TableIndex({ name: "IDX_feedback_program", columnNames: ["tenantId", "programId", "updatedAt"] }),
        ],
        foreignKeys: [new TableForeignKey({ name: "FK_feedback_execution", columnNames: ["executionId"], referencedTableName: "execution", referencedColumnNames: ["id"], onDelete: "CASCADE", onUpdate: "NO ACTION" })],
      }),
    );
    await queryRunner.addColumn("example", new TableColumn(varchar("feedbackId", 36, true)));
    // An example is made from a given feedback at most once per dataset.
    await queryRunner.createIndex("example", new TableIndex({ name: "UQ_example_feedback", columnNames: ["datasetId", "feedbackId"], isUnique: true }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex("example", "UQ_example_feedback");
    await queryRunner.dropColumn("example", "feedbackId");
    await queryRunner.dropTable("feedback");
  }
}
