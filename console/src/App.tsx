import type { Client } from "graphql-ws/client";
import { useCallback, useEffect, useMemo, useState } from "preact/hooks";
import type { ApiError } from "./api/errors";
import { createLiveClient } from "./api/live";
import { type Credential, clearCredential, describeCredential, loadCredential, saveCredential } from "./api/session";
import { href, useRoute } from "./router";
import { type Session, SessionContext, useSession } from "./session";
import { SignIn } from "./pages/SignIn";
import { Pages } from "./pages/Pages";

const NAV = [
  ["programs", "Programs"],
  ["executions", "Executions"],
  ["evaluations", "Evaluations"],
  ["optimizations", "Optimizations"],
  ["language-models", "Language models"],
  ["datasets", "Datasets"],
] as const;

/** Signed out: the sign-in page. Signed in: the navigation and the page the address names. */
export function App() {
  const [credential, setCredential] = useState<Credential | null>(loadCredential);
  const [signedOutBecause, setSignedOutBecause] = useState<ApiError | undefined>();
  const signOut = useCallback((reason?: ApiError) => {
    clearCredential();
    setSignedOutBecause(reason);
    setCredential(null);
  }, []);
  const live = useMemo<Client | null>(() => (credential ? createLiveClient(credential, (error) => signOut(error)) : null), [credential, signOut]);
  useEffect(() => () => void live?.dispose(), [live]);
  const session = useMemo<Session | null>(() => (credential && live ? { credential, live, signOut } : null), [credential, live, signOut]);

  if (!session) {
    return (
      <SignIn
        reason={signedOutBecause}
        onSignedIn={(accepted) => {
          saveCredential(accepted);
          setSignedOutBecause(undefined);
          setCredential(accepted);
        }}
      />
    );
  }
  return (
    <SessionContext.Provider value={session}>
      <Shell />
    </SessionContext.Provider>
  );
}

function Shell() {
  const session = useSession();
  const route = useRoute();
  const section = route.segments[0] ?? "programs";
  return (
    <div class="shell">
      <header class="topbar">
        <span class="brand">DSPy subgraph</span>
        <nav>
          {NAV.map(([segment, label]) => (
            <a key={segment} href={href([segment])} class={section === segment ? "active" : ""}>
              {label}
            </a>
          ))}
        </nav>
        <span class="who" data-testid="who">
          {describeCredential(session.credential)}
        </span>
        <button type="button" class="link" onClick={() => session.signOut()}>
          Sign out
        </button>
      </header>
      <main>
        <Pages route={route} />
      </main>
    </div>
  );
}
