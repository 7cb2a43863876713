import type { ErrorRequestHandler } from "express";

/**
 * Errors raised before GraphQL sees a request (express.json: body too large, malformed JSON), and
 * anything else that escapes a handler, answered as GraphQL-shaped JSON instead of express's HTML
 * page, without stack traces (README: "Limits"). What is ours to fix goes to `onInternalError` (the logger).
 */
export function graphqlShapedHttpErrors(maxRequestBytes: number, onInternalError: (error: unknown) => void): ErrorRequestHandler {
  return (error: unknown, _req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const { type, status } = (error ?? {}) as { type?: unknown; status?: unknown };
    let code = "INTERNAL_SERVER_ERROR";
    let httpStatus = 500;
    let message = "Internal server error";
    if (type === "entity.too.large") {
      [code, httpStatus, message] = ["REQUEST_TOO_LARGE", 413, `request body too large: the limit is ${maxRequestBytes} bytes`];
    } else if (type === "entity.parse.failed") {
      [code, httpStatus, message] = ["BAD_REQUEST", 400, "the request body is not valid JSON"];
    } else if (typeof status === "number" && status >= 400 && status < 500) {
      [code, httpStatus, message] = ["BAD_REQUEST", status, "the request could not be read"];
    } else if (process.env.LOG_INTERNAL_ERRORS !== "0") {
      onInternalError(error);
    }
    // Every error carries layer and retriable (README "Errors"): these are the request's own fault, or ours.
    res.status(httpStatus).json({ errors: [{ message, extensions: { code, layer: httpStatus === 500 ? "storage" : "transport", retriable: false } }] });
  };
}
