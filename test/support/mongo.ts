import { randomBytes } from "node:crypto";
import { MongoClient } from "mongodb";

/**
 * The MongoDB (FerretDB) server of the run, when there is one: TEST_MONGO_URL (scripts/test.sh
 * starts a private FerretDB with scripts/with-ferretdb.sh). REQUIRE_MONGO=1 (set by CI) turns a
 * missing one into a failure instead of a smaller run.
 */
export function mongoTestUrl(): string | undefined {
  const url = process.env.TEST_MONGO_URL;
  if (url) return url;
  if (process.env.REQUIRE_MONGO === "1") throw new Error("REQUIRE_MONGO=1 but TEST_MONGO_URL is not set: the MongoDB (FerretDB) suite must run");
  return undefined;
}

/** A database of its own on that server for one suite (its URL), dropped afterwards. */
export function scratchMongoDatabase(serverUrl: string): { url: string; drop(): Promise<void> } {
  const name = `t_${randomBytes(6).toString("hex")}`;
  const url = serverUrl.replace(/^(mongodb(?:\+srv)?:\/\/[^/?]+)(\/[^?]*)?/, `$1/${name}`);
  return {
    url,
    async drop() {
      const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000 });
      try {
        await client.connect();
        await client.db().dropDatabase();
      } finally {
        await client.close();
      }
    },
  };
}
