import type { ProgramVersion } from "../../entities/index.js";

/**
 * Program versions never change once written, and go only with their program (whose deletion is refused
 * while anything of it runs): each is read once per instance and tenant, the last `size` kept.
 */
export class VersionCache {
  private readonly kept = new Map<string, ProgramVersion>();

  constructor(private readonly size = 256) {}

  async get(tenantId: string, id: string, read: () => Promise<ProgramVersion | null>): Promise<ProgramVersion | null> {
    const key = `${tenantId}/${id}`;
    const found = this.kept.get(key);
    if (found) return found;
    const version = await read();
    if (version) {
      if (this.kept.size >= this.size) this.kept.delete(this.kept.keys().next().value as string);
      this.kept.set(key, version);
    }
    return version;
  }
}
