import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { type ApiError, asApiError } from "../api/errors";
import { request } from "../api/http";
import type { TypedDocumentString } from "../generated/graphql";
import { useSession } from "../session";

export interface QueryState<TResult> {
  data: TResult | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload(): void;
}

/**
 * Runs a query when mounted and whenever its variables change (`null`: not now); a refused
 * credential signs out. An answer that arrives after newer variables were asked for is dropped.
 */
export function useQuery<TResult, TVariables>(document: TypedDocumentString<TResult, TVariables>, variables: TVariables | null): QueryState<TResult> {
  const session = useSession();
  const [state, setState] = useState<{ data?: TResult; error?: ApiError; loading: boolean }>({ loading: true });
  const [generation, setGeneration] = useState(0);
  const latest = useRef(0);
  const key = JSON.stringify(variables);
  useEffect(() => {
    const ticket = ++latest.current;
    if (variables === null) {
      setState({ loading: false });
      return;
    }
    setState((previous) => ({ ...previous, loading: true }));
    request(session.credential, document, variables)
      .then((data) => ticket === latest.current && setState({ data, loading: false }))
      .catch((thrown: unknown) => {
        const error = asApiError(thrown);
        if (error.unauthenticated) session.signOut(error);
        else if (ticket === latest.current) setState((previous) => ({ data: previous.data, error, loading: false }));
      });
    // `key` stands for `variables` (a new object on every render).
  }, [document, key, generation, session]);
  const reload = useCallback(() => setGeneration((n) => n + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}
