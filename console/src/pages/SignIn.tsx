import { useState } from "preact/hooks";
import { type ApiError, asApiError } from "../api/errors";
import { request } from "../api/http";
import type { Credential, CredentialKind } from "../api/session";
import { ErrorBox } from "../components/ErrorBox";
import { SignInCheckDocument } from "../generated/graphql";

/**
 * Sign in with an API key or a JWT. The credential is tried on the API first, so a wrong one is
 * refused here with the server's reason (unknown API key, token expired, wrong audience…).
 */
export function SignIn({ reason, onSignedIn }: { reason: ApiError | undefined; onSignedIn(credential: Credential): void }) {
  const [kind, setKind] = useState<CredentialKind>("apiKey");
  const [secret, setSecret] = useState("");
  const [checking, setChecking] = useState(false);
  const [error, setError] = useState<ApiError | undefined>(reason);

  const submit = async (event: Event) => {
    event.preventDefault();
    const candidate: Credential = { kind, secret: secret.trim() };
    if (candidate.secret === "") return;
    setChecking(true);
    setError(undefined);
    try {
      await request(candidate, SignInCheckDocument, {});
      onSignedIn(candidate);
    } catch (thrown) {
      setError(asApiError(thrown));
    } finally {
      setChecking(false);
    }
  };

  return (
    <div class="signin">
      <form class="card" onSubmit={submit} aria-label="Sign in">
        <h1>DSPy subgraph console</h1>
        <p class="muted">Sign in with an API key or a JWT. You see what the API lets that credential see: its tenant, its role.</p>
        <fieldset class="segmented">
          <label>
            <input type="radio" name="kind" value="apiKey" checked={kind === "apiKey"} onChange={() => setKind("apiKey")} /> API key
          </label>
          <label>
            <input type="radio" name="kind" value="jwt" checked={kind === "jwt"} onChange={() => setKind("jwt")} /> JWT
          </label>
        </fieldset>
        {kind === "apiKey" ? (
          <input name="secret" type="password" autoComplete="off" placeholder="dspy_…" value={secret} onInput={(e) => setSecret(e.currentTarget.value)} aria-label="API key" />
        ) : (
          <textarea name="secret" rows={5} placeholder="eyJ…" value={secret} onInput={(e) => setSecret(e.currentTarget.value)} aria-label="JWT" />
        )}
        <button type="submit" disabled={checking || secret.trim() === ""}>
          {checking ? "Checking…" : "Sign in"}
        </button>
        <ErrorBox error={error} title={error?.code === "UNAUTHENTICATED" ? "Sign-in refused" : "Sign-in failed"} />
        <p class="muted small">The credential stays in this tab (sessionStorage) until you sign out or close it.</p>
      </form>
    </div>
  );
}
