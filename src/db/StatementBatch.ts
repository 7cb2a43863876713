import { type QueryRunner, QueryResult } from "typeorm";

interface MysqlConnection {
  format(sql: string, values?: unknown[]): string;
}

type Send = (sql: string, parameters?: unknown[], structured?: boolean) => Promise<any>;

const batches = new WeakMap<QueryRunner, StatementBatch>();

/**
 * The statements of one MySQL transaction whose results nobody reads (its START TRANSACTION, the
 * INSERTs and DELETEs of rows.ts), held back and sent with the next statement whose result is read,
 * or with the COMMIT, as one multi-statement query: one round trip instead of one each. An execution's two
 * transactions took 11 round trips; now 3. Every statement still runs, in order, in the transaction;
 * one that fails fails the query it went with, and so the transaction (whose caller sees the error,
 * as it would have at the COMMIT at the latest). A ROLLBACK before anything was sent sends nothing.
 *
 * The values are formatted by the connection itself (`format`, what mysql2 does for every query
 * with parameters), so the text is the same as if each statement had gone alone. This needs the
 * pool's `multipleStatements`; every statement of the product is parameterised (no value is ever
 * spliced into SQL), which is what keeps that option safe.
 */
export class StatementBatch {
  private pending: string[] = [];
  /** Whether anything of this transaction reached the server. */
  private sent = false;

  private constructor(private readonly runner: QueryRunner) {}

  /** Makes `runner` (MySQL, a fresh one) hold back its statements as described above. */
  static install(runner: QueryRunner): void {
    const batch = new StatementBatch(runner);
    const send = runner.query.bind(runner) as Send;
    batches.set(runner, batch);
    runner.query = ((sql: string, parameters?: unknown[], structured?: boolean) => batch.query(send, sql, parameters, structured)) as QueryRunner["query"];
  }

  /** The batch of the transaction `runner` runs, if it holds statements back. */
  static of(runner: QueryRunner | undefined): StatementBatch | undefined {
    return runner ? batches.get(runner) : undefined;
  }

  /** Holds a statement whose result is not read (an INSERT) until the next one that is read. */
  async defer(sql: string, parameters: unknown[]): Promise<void> {
    this.pending.push(await this.format(sql, parameters));
  }

  private async query(send: Send, sql: string, parameters: unknown[] | undefined, structured: boolean | undefined): Promise<any> {
    if (sql === "START TRANSACTION" && !this.sent && this.pending.length === 0) {
      this.pending.push(sql);
      return structured ? new QueryResult() : undefined;
    }
    if (sql === "ROLLBACK" && !this.sent) {
      this.pending = [];
      return structured ? new QueryResult() : undefined;
    }
    if (sql === "ROLLBACK") this.pending = [];
    this.sent = true;
    if (this.pending.length === 0) return send(sql, parameters, structured);
    const statements = [...this.pending, await this.format(sql, parameters)];
    this.pending = [];
    const results = (await send(statements.join(";\n"), undefined, true)).raw as unknown[];
    return resultOf(results[results.length - 1], structured);
  }

  private async format(sql: string, parameters: unknown[] | undefined): Promise<string> {
    const connection = (await this.runner.connect()) as MysqlConnection;
    return parameters && parameters.length > 0 ? connection.format(sql, parameters) : sql;
  }
}

/** The last statement's result, in the shape TypeORM's MySQL runner gives a query of its own. */
function resultOf(raw: unknown, structured: boolean | undefined): unknown {
  if (!structured) return raw;
  const result = new QueryResult();
  result.raw = raw;
  if (Array.isArray(raw)) result.records = raw;
  const affected = (raw as { affectedRows?: unknown } | null)?.affectedRows;
  if (typeof affected === "number") result.affected = affected;
  return result;
}
