import type { TypedDocumentString } from "../generated/graphql";
import { ApiError, apiErrorFrom } from "./errors";
import { type Credential, authHeaders } from "./session";

/** The API the console is served next to: /graphql on the same server (the page's base is /console/). */
export const GRAPHQL_URL = new URL("../graphql", document.baseURI).href;

/** One query or mutation over HTTP; resolves with its data or throws the API's error. */
export async function request<TResult, TVariables>(credential: Credential, document: TypedDocumentString<TResult, TVariables>, variables: TVariables): Promise<TResult> {
  let response: Response;
  try {
    response = await fetch(GRAPHQL_URL, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json", ...authHeaders(credential) },
      body: JSON.stringify({ query: document.toString(), variables }),
    });
  } catch (error) {
    throw new ApiError("NETWORK", `the server could not be reached (${error instanceof Error ? error.message : String(error)})`, { retriable: true });
  }
  let body: { data?: TResult | null; errors?: unknown[] };
  try {
    body = (await response.json()) as typeof body;
  } catch {
    throw new ApiError(`HTTP_${response.status}`, `the server answered ${response.status} ${response.statusText} without a GraphQL body`);
  }
  if (body.errors && body.errors.length > 0) throw apiErrorFrom(body.errors);
  if (!body.data) throw new ApiError("NO_DATA", "the server answered without data");
  return body.data;
}
