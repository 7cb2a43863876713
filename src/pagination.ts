import type { ObjectLiteral, SelectQueryBuilder } from "typeorm";
import { AppError } from "./errors.js";
import { isId } from "./ids.js";

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export interface PageArgs {
  first?: number | null;
  after?: string | null;
}

export interface Page<T> {
  nodes: T[];
  cursors: string[];
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  totalCount: number;
}

/** Cursors are opaque to clients; inside, they are the (time-ordered UUIDv7) id of the last row seen. */
export function encodeCursor(id: string): string {
  return Buffer.from(`id:${id}`, "utf8").toString("base64url");
}

export function decodeCursor(cursor: string, path = "after"): string {
  const decoded = Buffer.from(cursor, "base64url").toString("utf8");
  const id = decoded.startsWith("id:") ? decoded.slice(3) : "";
  if (!isId(id)) throw AppError.badInput(path, "is not a cursor returned by this API");
  return id;
}

/** Keyset pagination over `alias.id` ascending, i.e. creation order. */
export async function paginate<T extends ObjectLiteral & { id: string }>(
  query: SelectQueryBuilder<T>,
  { first, after }: PageArgs,
): Promise<Page<T>> {
  const size = first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(size) || size < 0 || size > MAX_PAGE_SIZE) {
    throw AppError.badInput("first", `must be an integer between 0 and ${MAX_PAGE_SIZE}, got ${size}`);
  }
  const alias = query.alias;
  const totalCount = await query.clone().getCount();
  const paged = query.clone().orderBy(`${alias}.id`, "ASC").take(size + 1);
  if (after !== undefined && after !== null) paged.andWhere(`${alias}.id > :afterId`, { afterId: decodeCursor(after) });
  const rows = await paged.getMany();
  const nodes = rows.slice(0, size);
  return {
    nodes,
    cursors: nodes.map((node) => encodeCursor(node.id)),
    hasNextPage: rows.length > size,
    hasPreviousPage: after !== undefined && after !== null,
    totalCount,
  };
}
