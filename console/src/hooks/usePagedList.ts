import { useEffect, useState } from "preact/hooks";
import { type ApiError, asApiError } from "../api/errors";
import { request } from "../api/http";
import type { TypedDocumentString } from "../generated/graphql";
import { useSession } from "../session";

const tabVisible = () => globalThis.document.visibilityState === "visible";

interface Connection<TNode> {
  totalCount: number;
  pageInfo: { hasNextPage: boolean; endCursor?: string | null };
  edges: { node: TNode }[];
}

/**
 * Every node of a Relay list, read page by page up to `maxPages` (the API lists oldest first and
 * pages forward only), and again every `refreshMs` while the tab is visible: there is no
 * subscription to new evaluations or optimizations, only to each one's progress.
 * `connectionOf` picks the connection out of the query's data.
 */
export function usePagedList<TResult, TNode>(
  document: TypedDocumentString<TResult, { after?: string | null }>,
  connectionOf: (data: TResult) => Connection<TNode>,
  { maxPages, refreshMs }: { maxPages: number; refreshMs: number },
): { nodes: TNode[] | undefined; totalCount: number; error: ApiError | undefined; reload(): void } {
  const session = useSession();
  const [state, setState] = useState<{ nodes?: TNode[]; totalCount: number; error?: ApiError }>({ totalCount: 0 });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let cancelled = false;
    (async () => {
      const nodes: TNode[] = [];
      let after: string | null = null;
      let totalCount = 0;
      for (let page = 0; page < maxPages; page++) {
        const connection = connectionOf(await request(session.credential, document, { after }));
        totalCount = connection.totalCount;
        nodes.push(...connection.edges.map((edge) => edge.node));
        if (!connection.pageInfo.hasNextPage || !connection.pageInfo.endCursor) break;
        after = connection.pageInfo.endCursor;
      }
      if (!cancelled) setState({ nodes, totalCount });
    })().catch((thrown: unknown) => {
      const error = asApiError(thrown);
      if (error.unauthenticated) session.signOut(error);
      else if (!cancelled) setState((previous) => ({ ...previous, error }));
    });
    return () => {
      cancelled = true;
    };
  }, [document, generation, session]);
  useEffect(() => {
    const timer = setInterval(() => tabVisible() && setGeneration((n) => n + 1), refreshMs);
    return () => clearInterval(timer);
  }, [refreshMs]);
  return { nodes: state.nodes, totalCount: state.totalCount, error: state.error, reload: () => setGeneration((n) => n + 1) };
}
