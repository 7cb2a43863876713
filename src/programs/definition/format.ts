/** A path step: an object key or an array index. */
export type Seg = string | number;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** "definition" + ["forward", 1, "with", "my-key"] → 'definition.forward[1].with["my-key"]' */
export function formatPath(root: string, segs: readonly Seg[]): string {
  let path = root;
  for (const seg of segs) {
    if (typeof seg === "number") path += `[${seg}]`;
    else path += IDENTIFIER.test(seg) ? `.${seg}` : `[${JSON.stringify(seg)}]`;
  }
  return path;
}

/** A user string for a message: single-quoted, truncated, control characters escaped. */
export function quote(text: string, max = 60): string {
  const short = text.length > max ? `${text.slice(0, max)}…` : text;
  const escaped = short.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return `'${escaped}'`;
}

/** "string 'abc'", "number 1.5", "boolean true", "null", "array", "object", … */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  switch (typeof value) {
    case "string":
      return `string ${quote(value)}`;
    case "number":
    case "boolean":
      return `${typeof value} ${String(value)}`;
    default:
      return typeof value;
  }
}

export function formatList(items: Iterable<string>): string {
  const all = [...items];
  return all.length > 0 ? all.join(", ") : "none";
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Sets an own property even for keys like "__proto__", so user keys never touch prototypes. */
export function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}
