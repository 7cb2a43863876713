import { type MigrationInterface, type QueryRunner, Table, TableForeignKey, TableIndex } from "typeorm";
import { tenantScopedColumns, varchar } from "./columns.js";

/** Language models, programs and their versions, datasets and examples. */
export class Foundation1764100000000 implements MigrationInterface {
  name = "Foundation1764100000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    const base = () => tenantScopedColumns(queryRunner);

    await queryRunner.createTable(
      new Table({
        name: "language_model",
        columns: [
          ...base(),
          varchar("name", 200),
          varchar("model", 200),
          varchar("apiBase", 2000, true),
          { name: "temperature", type: "double", isNullable: true },
          { name: "maxTokens", type: "integer", isNullable: true },
          { name: "cache", type: "boolean", isNullable: false, default: 1 },
          varchar("secretEnv", 200, true),
          { name: "config", type: "json", isNullable: true },
        ],
        indices: [new TableIndex({ name: "UQ_language_model_tenant_name", columnNames: ["tenantId", "name"], isUnique: true })],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: "program",
        columns: [
          ...base(),
          varchar("name", 200),
          { name: "description", type: "text", isNullable: true },
          { name: "definition", type: "json", isNullable: false },
          varchar("languageModelId", 36, true),
          varchar("currentVersionId", 36, true),
        ],
        indices: [new TableIndex({ name: "UQ_program_tenant_name", columnNames: ["tenantId", "name"], isUnique: true })],
        foreignKeys: [
          new TableForeignKey({
            name: "FK_program_language_model",
            columnNames: ["languageModelId"],
            referencedTableName: "language_model",
            referencedColumnNames: ["id"],
            onDelete: "RESTRICT",
            onUpdate: "NO ACTION",
          }),
        ],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: "program_version",
        columns: [
          ...base(),
          varchar("programId", 36),
          { name: "number", type: "integer", isNullable: false },
          { name: "definition", type: "json", isNullable: false },
          varchar("contentHash", 64),
          { name: "compiledState", type: "json", isNullable: true },
          varchar("source", 20),
          { name: "score", type: "double", isNullable: true },
        ],
        indices: [new TableIndex({ name: "UQ_program_version_number", columnNames: ["programId", "number"], isUnique: true })],
        foreignKeys: [
          new TableForeignKey({
            name: "FK_program_version_program",
            columnNames: ["programId"],
            referencedTableName: "program",
            referencedColumnNames: ["id"],
            onDelete: "CASCADE",
            onUpdate: "NO ACTION",
          }),
        ],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: "dataset",
        columns: [...base(), varchar("name", 200), { name: "description", type: "text", isNullable: true }],
        indices: [new TableIndex({ name: "UQ_dataset_tenant_name", columnNames: ["tenantId", "name"], isUnique: true })],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: "example",
        columns: [
          ...base(),
          varchar("datasetId", 36),
          { name: "inputs", type: "json", isNullable: false },
          { name: "labels", type: "json", isNullable: false },
          varchar("split", 8),
        ],
        indices: [new TableIndex({ name: "IDX_example_dataset_split", columnNames: ["datasetId", "split"] })],
        foreignKeys: [
          new TableForeignKey({
            name: "FK_example_dataset",
            columnNames: ["datasetId"],
            referencedTableName: "dataset",
            referencedColumnNames: ["id"],
            onDelete: "CASCADE",
            onUpdate: "NO ACTION",
          }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ["example", "dataset", "program_version", "program", "language_model"]) {
      await queryRunner.dropTable(table);
    }
  }
}
