import assert from "node:assert/strict";
import { API_KEY_PREFIX, ApiKeyService, hashApiKey } from "../src/auth/ApiKeyService.js";
import type { Database } from "../src/db/Database.js";

const SECRET = `${API_KEY_PREFIX}${"x".repeat(43)}`;

/**
 * ApiKeyService.isRevoked with the database unreachable: what the instance last knew of a key holds (no
 * key can be revoked without the database), so an outage does not end every API key's open
 * subscriptions; a key it never knew is an error. A database stand-in: only the reads isRevoked and
 * authenticate make.
 */
describe("API key revocation checks while the database is unreachable", function () {
  this.timeout(10_000);
  it("answers what it last knew of a known key, fails for an unknown one, and reads again once it can", async () => {
    let failing = false;
    let revokedAt: Date | null = null;
    const stored = { id: "k1", tenantId: "t1", role: "viewer", revokedAt: null, lastUsedAt: new Date(), hash: hashApiKey(SECRET) };
    const database = {
      manager: {
        findOneBy: async () => stored,
        findOne: async () => {
          if (failing) throw new Error("connect ECONNREFUSED 127.0.0.1:3306");
          return { id: "k1", revokedAt };
        },
      },
    } as unknown as Database;
    const service = new ApiKeyService(database);
    const principal = await service.authenticate(SECRET);
    assert.equal(principal.apiKeyId, "k1");

    failing = true;
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // past the recheck interval: it reads the database
    assert.equal(await service.isRevoked("k1"), false, "what it knew holds while the database is unreachable");
    await assert.rejects(service.isRevoked("k2"), /ECONNREFUSED/, "a key it never knew cannot be answered");

    failing = false;
    revokedAt = new Date(); // revoked on another instance, its event missed
    assert.equal(await service.isRevoked("k1"), true, "read again as soon as the database answers");
    failing = true;
    assert.equal(await service.isRevoked("k1"), true, "a revocation is never forgotten");
  });
});
