/**
 * Reads on a hot path that may be up to `freshMs` old: the same key read again within that time gets
 * the same promise (one round trip for many executions), and `forget` makes the next read fresh (a
 * change made here, or announced on the bus). A failed read is not kept: the next one tries again.
 * The value is shared between callers, who must not change it.
 */
export class FreshReads<T> {
  private readonly entries = new Map<string, { at: number; value: Promise<T> }>();

  constructor(private readonly freshMs: number) {}

  get(key: string, read: () => Promise<T>): Promise<T> {
    const hit = this.entries.get(key);
    if (hit && Date.now() - hit.at < this.freshMs) return hit.value;
    const value = read();
    this.entries.set(key, { at: Date.now(), value });
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    return value;
  }

  forget(key: string): void {
    this.entries.delete(key);
  }
}
