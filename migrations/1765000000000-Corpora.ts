import { type MigrationInterface, type QueryRunner, Table, TableForeignKey, TableIndex } from "typeorm";
import { instantColumn } from "../src/db/dialect.js";
import { tenantScopedColumns, varchar } from "./columns.js";

/** Corpora and their documents (with embeddings), for retrieval. */
export class Corpora1765000000000 implements MigrationInterface {
  name = "Corpora1765000000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: "corpus",
        columns: [
          ...tenantScopedColumns(queryRunner),
          varchar("name", 200),
          { name: "description", type: "text", isNullable: true },
          varchar("embeddingModel", 200),
          varchar("status", 16),
          { name: "dims", type: "integer", isNullable: true },
          { name: "error", type: "json", isNullable: true },
        ],
        indices: [new TableIndex({ name: "UQ_corpus_tenant_name", columnNames: ["tenantId", "name"], isUnique: true })],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: "corpus_document",
        columns: [
          ...tenantScopedColumns(queryRunner),
          varchar("corpusId", 36),
          { name: "text", type: "text", isNullable: false },
          varchar("title", 500, true),
          { name: "metadata", type: "json", isNullable: true },
          { name: "embedding", type: "text", isNullable: true },
          instantColumn("embeddedAt", true),
        ],
        indices: [new TableIndex({ name: "IDX_corpus_document_corpus_embedded", columnNames: ["corpusId", "embeddedAt"] })],
        foreignKeys: [
          new TableForeignKey({ name: "FK_corpus_document_corpus", columnNames: ["corpusId"], referencedTableName: "corpus", referencedColumnNames: ["id"], onDelete: "CASCADE", onUpdate: "NO ACTION" }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable("corpus_document");
    await queryRunner.dropTable("corpus");
  }
}
