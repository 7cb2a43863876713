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

export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? "", "utf8");
}

export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`;
}
