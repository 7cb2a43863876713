import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import express, { type ErrorRequestHandler, type RequestHandler, type Response } from "express";

/** Where the console is served (README: "Console"). */
export const CONSOLE_PATH = "/console";

/** dist/console, next to dist/src/console/ where this module runs from (scripts/build-console.mjs writes it). */
const BUILT_CONSOLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "console");

/** Hashed by the build: a new bundle gets a new name, so browsers may keep these for good. */
const ASSETS = `${path.sep}assets${path.sep}`;

/**
 * The console's static files: index.html at /console and /console/, its assets under /console/assets.
 * Nothing else: no directory listing, no fallback to other paths, nothing loaded from elsewhere
 * (the Content-Security-Policy says so to the browser too). Mounted by src/server.ts.
 */
export function consoleRoute(dir: string = BUILT_CONSOLE): express.Router {
  const router = express.Router();
  const index = path.join(dir, "index.html");
  router.use(securityHeaders);
  // `/console` and `/console/` both reach this router as "/".
  router.get("/", (_req, res) => {
    if (!fs.existsSync(index)) {
      plainAnswer(res, 503, "The console is not built: run `npm run build` (it runs scripts/build-console.mjs).");
      return;
    }
    res.setHeader("cache-control", "no-cache");
    res.sendFile(index);
  });
  router.use(
    express.static(dir, {
      index: false,
      redirect: false,
      dotfiles: "ignore",
      fallthrough: true,
      setHeaders: (res, file) => res.setHeader("cache-control", file.includes(ASSETS) ? "public, max-age=31536000, immutable" : "no-cache"),
    }),
  );
  router.use((_req, res) => plainAnswer(res, 404, "Not found."));
  // A malformed path (bad percent-encoding…) is the request's fault: plain text, not the API's JSON errors.
  const answerErrors: ErrorRequestHandler = (error: { status?: unknown }, _req, res, next) => {
    if (res.headersSent) return next(error);
    const status = typeof error.status === "number" && error.status >= 400 && error.status < 500 ? error.status : 500;
    plainAnswer(res, status, status === 500 ? "Internal server error." : "Bad request.");
  };
  router.use(answerErrors);
  return router;
}

/**
 * Everything the page loads comes from this server: scripts and styles from /console, the API and its
 * WebSocket on the same host. No inline script, no frames, no other origin.
 */
const securityHeaders: RequestHandler = (req, res, next) => {
  const host = req.headers.host && /^[A-Za-z0-9.\-:[\]]+$/.test(req.headers.host) ? req.headers.host : undefined;
  const sockets = host ? ` ws://${host} wss://${host}` : "";
  res.setHeader(
    "content-security-policy",
    `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'${sockets}; base-uri 'self'; form-action 'none'; frame-ancestors 'none'`,
  );
  res.setHeader("x-content-type-options", "nosniff");
  res.setHeader("referrer-policy", "no-referrer");
  res.setHeader("x-frame-options", "DENY");
  next();
};

function plainAnswer(res: Response, status: number, message: string): void {
  res.status(status).type("text/plain; charset=utf-8").setHeader("cache-control", "no-store");
  res.send(message);
}
