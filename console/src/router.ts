import { useEffect, useState } from "preact/hooks";

/**
 * Hash routes (`#/executions/<id>?status=RUNNING`): the server serves one index.html, and a reload
 * or a shared link opens the same view.
 */
export interface Route {
  /** The path's segments: `#/executions/abc` → ["executions", "abc"]. */
  segments: string[];
  query: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const [path = "", search = ""] = hash.replace(/^#\/?/, "").split("?", 2);
  return { segments: path.split("/").filter((s) => s !== "").map(decodeURIComponent), query: new URLSearchParams(search) };
}

export function useRoute(): Route {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const update = () => setHash(location.hash);
    window.addEventListener("hashchange", update);
    // The address may have changed between the first render and this listener.
    update();
    return () => window.removeEventListener("hashchange", update);
  }, []);
  return parseRoute(hash);
}

/** `href(["executions", id], { status: "RUNNING" })` → `#/executions/<id>?status=RUNNING` (empty values left out). */
export function href(segments: readonly string[], query: Record<string, string | null | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value) params.set(key, value);
  const search = params.toString();
  return `#/${segments.map(encodeURIComponent).join("/")}${search ? `?${search}` : ""}`;
}

export function navigate(to: string): void {
  location.hash = to;
}
