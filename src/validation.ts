import type { IssueDetail } from "./errors.js";

/** Small checks shared by the input validators; each returns issues instead of throwing. */
export class IssueList {
  readonly issues: IssueDetail[] = [];

  add(path: string, reason: string): void {
    this.issues.push({ path, reason });
  }

  get empty(): boolean {
    return this.issues.length === 0;
  }

  /** A display name: trimmed, non-empty, at most `max` characters, no control characters. */
  name(path: string, value: unknown, max = 200): void {
    if (typeof value !== "string") return this.add(path, "must be a string");
    if (value.trim() === "") return this.add(path, "must not be empty");
    if (value !== value.trim()) return this.add(path, "must not start or end with whitespace");
    if (value.length > max) return this.add(path, `must be at most ${max} characters, got ${value.length}`);
    if (/\p{Cc}/u.test(value)) this.add(path, "must not contain control characters");
  }

  optionalText(path: string, value: unknown, max: number): void {
    if (value === undefined || value === null) return;
    if (typeof value !== "string") return this.add(path, "must be a string");
    if (value.length > max) this.add(path, `must be at most ${max} characters, got ${value.length}`);
  }

  /** A JSON object no larger than `maxBytes` when serialized. */
  jsonObject(path: string, value: unknown, maxBytes: number): value is Record<string, unknown> {
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      this.add(path, `must be a JSON object, got ${describe(value)}`);
      return false;
    }
    const bytes = jsonBytes(value);
    if (bytes > maxBytes) {
      this.add(path, `is ${bytes} bytes of JSON; the limit is ${maxBytes}`);
      return false;
    }
    return true;
  }
}

export const FIELD_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/** Deepest nesting of objects and arrays a JSON input may have (README "Limits"). */
export const MAX_JSON_DEPTH = 64;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * The one check of a JSON value at the door (every JSON scalar input): nested at most MAX_JSON_DEPTH
 * deep (walked without recursion, so no depth overflows a stack), no number that is an integer beyond
 * 2^53 (it arrived rounded already: refused rather than silently changed), and no string or key with a
 * NUL or a lone surrogate (Python, MySQL and the LM would each treat them differently). The first
 * problem, as a path below `root` and a reason; null when there is none.
 */
export function jsonValueIssue(value: unknown, root = ""): IssueDetail | null {
  const stack: [unknown, string, number][] = [[value, root, 0]];
  while (stack.length > 0) {
    const [current, path, depth] = stack.pop()!;
    if (typeof current === "string") {
      const reason = badText(current);
      if (reason) return { path: path || "(value)", reason };
    } else if (typeof current === "number") {
      if (Number.isInteger(current) && !Number.isSafeInteger(current)) {
        return { path: path || "(value)", reason: `is an integer beyond 2^53 (${Number.MAX_SAFE_INTEGER}), which JSON numbers cannot carry exactly; send it as a string` };
      }
    } else if (current !== null && typeof current === "object") {
      if (depth >= MAX_JSON_DEPTH) return { path: path || "(value)", reason: `nests deeper than ${MAX_JSON_DEPTH} levels of objects and arrays` };
      if (Array.isArray(current)) {
        for (let i = current.length - 1; i >= 0; i--) stack.push([current[i], `${path}[${i}]`, depth + 1]);
      } else {
        for (const key of Object.keys(current).reverse()) {
          const reason = badText(key);
          const at = path ? `${path}.${key}` : key;
          if (reason) return { path: at, reason: `(a key) ${reason}` };
          stack.push([(current as Record<string, unknown>)[key], at, depth + 1]);
        }
      }
    }
  }
  return null;
}

function badText(text: string): string | null {
  if (text.includes("\u0000")) return "contains a NUL character (U+0000)";
  if (LONE_SURROGATE.test(text)) return "contains a lone surrogate (not valid Unicode)";
  return null;
}

export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? "", "utf8");
}

export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`;
}
