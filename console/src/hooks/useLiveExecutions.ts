import { useCallback, useEffect, useState } from "preact/hooks";
import { type ApiError, asApiError } from "../api/errors";
import { request } from "../api/http";
import { subscribe } from "../api/live";
import { type ExecutionRowFragment, type ExecutionStatus, ExecutionsDocument, type ExecutionsQuery, ProgramExecutionEventsDocument } from "../generated/graphql";
import { useSession } from "../session";

/** Pages of 100 read at most when the table opens (the API lists oldest first; see `truncated`). */
const MAX_PAGES = 5;
/**
 * Programs followed at once: one executionEvents subscription each on the session's connection,
 * under the server's MAX_SUBSCRIPTIONS_PER_CONNECTION (100) with room for the execution view's own.
 */
export const MAX_FOLLOWED_PROGRAMS = 90;

export interface ExecutionFilter {
  programId: string | null;
  status: ExecutionStatus | null;
}

export interface LiveExecutions {
  /** Newest first. */
  rows: ExecutionRowFragment[];
  /** How many match the filter on the server, when the table opened. */
  totalCount: number | undefined;
  /** More matched than the table read: the newest of them are missing (the API pages oldest first). */
  truncated: boolean;
  error: ApiError | undefined;
  /** A row the page learned of itself (the answer to executeProgram), merged as the events would be. */
  upsert(row: ExecutionRowFragment): void;
}

const matches = (row: ExecutionRowFragment, filter: ExecutionFilter) =>
  (!filter.programId || row.program?.id === filter.programId) && (!filter.status || row.status === filter.status);

/**
 * The executions table, kept live: the matching executions read page by page, then every transition
 * of the followed programs' executions (executionEvents) applied as it happens. Of two copies of a
 * row (the list and an event, or two events) the one with the higher lock version wins, so the order
 * in which answers and events arrive does not matter.
 */
export function useLiveExecutions(filter: ExecutionFilter, followedProgramIds: readonly string[]): LiveExecutions {
  const session = useSession();
  const [rows, setRows] = useState<Map<string, ExecutionRowFragment>>(new Map());
  const [listed, setListed] = useState<{ totalCount: number; truncated: boolean } | undefined>();
  const [error, setError] = useState<ApiError | undefined>();
  const filterKey = `${filter.programId ?? ""}|${filter.status ?? ""}`;

  const apply = useCallback(
    (incoming: ExecutionRowFragment) =>
      setRows((previous) => {
        const known = previous.get(incoming.id);
        if (known && known.version > incoming.version) return previous;
        const next = new Map(previous);
        if (matches(incoming, filter)) next.set(incoming.id, incoming);
        else next.delete(incoming.id);
        return next;
      }),
    [filterKey],
  );

  // The followed programs' transitions, subscribed before the list is read. graphql-ws does not say
  // when a subscription has taken effect, so a transition in that first moment shows with the row's next one.
  const followedKey = followedProgramIds.join(",");
  useEffect(() => {
    const stops = followedProgramIds.slice(0, MAX_FOLLOWED_PROGRAMS).map((programId) =>
      subscribe(session.live, ProgramExecutionEventsDocument, { programId }, {
        next: (data) => apply(data.executionEvents),
        error: (failure) => (failure.unauthenticated ? session.signOut(failure) : setError(failure)),
      }),
    );
    return () => stops.forEach((stop) => stop());
  }, [followedKey, apply, session]);

  useEffect(() => {
    let cancelled = false;
    setRows(new Map());
    setListed(undefined);
    setError(undefined);
    (async () => {
      let after: string | null = null;
      for (let page = 0; page < MAX_PAGES; page++) {
        const { executions }: ExecutionsQuery = await request(session.credential, ExecutionsDocument, { first: 100, after, programId: filter.programId, status: filter.status });
        if (cancelled) return;
        executions.edges.forEach(({ node }) => apply(node));
        const more = executions.pageInfo.hasNextPage;
        setListed({ totalCount: executions.totalCount, truncated: more && page === MAX_PAGES - 1 });
        if (!more || !executions.pageInfo.endCursor) return;
        after = executions.pageInfo.endCursor;
      }
    })().catch((thrown: unknown) => {
      const failure = asApiError(thrown);
      if (failure.unauthenticated) session.signOut(failure);
      else if (!cancelled) setError(failure);
    });
    return () => {
      cancelled = true;
    };
  }, [filterKey, apply, session]);

  const sorted = [...rows.values()].sort((a, b) => b.queuedAt.localeCompare(a.queuedAt) || b.id.localeCompare(a.id));
  return { rows: sorted, totalCount: listed?.totalCount, truncated: listed?.truncated ?? false, error, upsert: apply };
}
