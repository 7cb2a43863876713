/**
 * A label whose values come from users (operation names, model strings): the first `max` distinct
 * values are kept as they are (cut to `maxLength`), later ones become `other`, so a client inventing
 * names cannot grow the metrics without bound.
 */
export class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(
    private readonly max: number,
    private readonly fallback = "other",
    private readonly maxLength = 100,
  ) {}

  value(raw: string | null | undefined, empty = "unknown"): string {
    const value = (raw ?? "").slice(0, this.maxLength) || empty;
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return this.fallback;
    this.seen.add(value);
    return value;
  }
}
