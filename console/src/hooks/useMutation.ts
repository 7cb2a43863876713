import { useCallback, useState } from "preact/hooks";
import { type ApiError, asApiError } from "../api/errors";
import { request } from "../api/http";
import type { TypedDocumentString } from "../generated/graphql";
import { useSession } from "../session";

export interface MutationState<TResult, TVariables> {
  /** Resolves with the data, or undefined when it failed (the error is then in `error`). */
  run(variables: TVariables): Promise<TResult | undefined>;
  running: boolean;
  error: ApiError | undefined;
}

export function useMutation<TResult, TVariables>(document: TypedDocumentString<TResult, TVariables>): MutationState<TResult, TVariables> {
  const session = useSession();
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const run = useCallback(
    async (variables: TVariables) => {
      setRunning(true);
      setError(undefined);
      try {
        return await request(session.credential, document, variables);
      } catch (thrown) {
        const failure = asApiError(thrown);
        if (failure.unauthenticated) session.signOut(failure);
        setError(failure);
        return undefined;
      } finally {
        setRunning(false);
      }
    },
    [document, session],
  );
  return { run, running, error };
}
