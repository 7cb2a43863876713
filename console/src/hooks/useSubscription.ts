import { useEffect, useRef, useState } from "preact/hooks";
import type { ApiError } from "../api/errors";
import { subscribe } from "../api/live";
import type { TypedDocumentString } from "../generated/graphql";
import { useSession } from "../session";

export interface SubscriptionState {
  error: ApiError | undefined;
  /** The server completed it (e.g. the execution reached its end). */
  completed: boolean;
}

/**
 * Follows a subscription over the session's graphql-ws connection while mounted; `variables` null
 * means not now. `onData` may change between renders: the latest one is called.
 */
export function useSubscription<TResult, TVariables>(
  document: TypedDocumentString<TResult, TVariables>,
  variables: TVariables | null,
  onData: (data: TResult) => void,
): SubscriptionState {
  const session = useSession();
  const handler = useRef(onData);
  handler.current = onData;
  const [state, setState] = useState<SubscriptionState>({ error: undefined, completed: false });
  const key = variables === null ? null : JSON.stringify(variables);
  useEffect(() => {
    if (variables === null) return undefined;
    setState({ error: undefined, completed: false });
    return subscribe(session.live, document, variables, {
      next: (data) => handler.current(data),
      error: (error) => {
        if (error.unauthenticated) session.signOut(error);
        else setState({ error, completed: true });
      },
      complete: () => setState((previous) => ({ ...previous, completed: true })),
    });
    // `key` stands for `variables`.
  }, [document, key, session]);
  return state;
}
