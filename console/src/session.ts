import type { Client } from "graphql-ws/client";
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { ApiError } from "./api/errors";
import type { Credential } from "./api/session";

/** What every page needs of the signed-in session: the credential, the live connection, and a way out. */
export interface Session {
  credential: Credential;
  live: Client;
  /** Signs out; with `reason`, the sign-in page says why (a key revoked, a token expired). */
  signOut(reason?: ApiError): void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a signed-in session");
  return session;
}
