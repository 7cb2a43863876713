import type { RequestHandler } from "express";

/** CORS_ORIGINS parsed: any origin, or exactly these (scheme://host[:port], as browsers send them). */
export type CorsOrigins = "*" | readonly string[];

/** Request headers a browser app may send: credentials, the request id, Apollo's CSRF header, W3C trace context. */
const ALLOWED_HEADERS = "content-type, authorization, x-api-key, x-request-id, apollo-require-preflight, traceparent, tracestate";
/** How long a browser may reuse a preflight's answer, in seconds. */
const PREFLIGHT_MAX_AGE_S = 600;

/** `*`, or comma-separated origins; each must be an origin (no path), so a typo fails at start, not in a browser. */
export function parseCorsOrigins(raw: string | undefined): CorsOrigins | undefined {
  if (raw === undefined || raw.trim() === "") return undefined;
  if (raw.trim() === "*") return "*";
  const origins = raw.split(",").map((origin) => origin.trim()).filter(Boolean);
  for (const origin of origins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || parsed.origin !== origin) throw new Error(`CORS_ORIGINS: '${origin}' is not an origin like https://app.example.com (scheme, host and port only, no trailing slash)`);
  }
  return origins;
}

/**
 * Answers CORS for allowed origins: a preflight (OPTIONS with Access-Control-Request-Method) gets 204
 * and what it may send; other requests get Access-Control-Allow-Origin and may read x-request-id.
 * A request from another origin gets no CORS headers (the browser then refuses it). Credentials
 * travel in headers, never cookies, so Allow-Credentials is never sent.
 */
export function corsMiddleware(allowed: CorsOrigins): RequestHandler {
  const allowedSet = new Set(allowed === "*" ? [] : allowed);
  return (req, res, next) => {
    const origin = req.headers.origin;
    // The answer depends on Origin when origins are listed: caches must keep one per origin.
    if (allowed !== "*") res.vary("Origin");
    if (typeof origin !== "string" || (allowed !== "*" && !allowedSet.has(origin))) {
      next();
      return;
    }
    res.setHeader("Access-Control-Allow-Origin", allowed === "*" ? "*" : origin);
    if (req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined) {
      res.setHeader("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
      res.setHeader("Access-Control-Allow-Headers", ALLOWED_HEADERS);
      res.setHeader("Access-Control-Max-Age", String(PREFLIGHT_MAX_AGE_S));
      res.status(204).end();
      return;
    }
    res.setHeader("Access-Control-Expose-Headers", "x-request-id");
    next();
  };
}
