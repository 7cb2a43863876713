import assert from "node:assert/strict";
import { FreshReads } from "../src/db/FreshReads.js";

describe("FreshReads: hot-path reads up to freshMs old", () => {
  it("reads a key once within freshMs, again after it or after forget, and does not keep a failed read", async () => {
    const reads = new FreshReads<number>(50);
    let n = 0;
    const read = () => Promise.resolve(++n);
    assert.equal(await reads.get("a", read), 1);
    assert.equal(await reads.get("a", read), 1, "within freshMs: the same read");
    assert.equal(await reads.get("b", read), 2, "another key: its own read");
    reads.forget("a");
    assert.equal(await reads.get("a", read), 3, "after forget: read again");
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(await reads.get("a", read), 4, "after freshMs: read again");
    await assert.rejects(reads.get("c", () => Promise.reject(new Error("down"))), /down/);
    assert.equal(await reads.get("c", read), 5, "a failed read is not kept");
  });

  it("a failed read that was already replaced does not drop its replacement", async () => {
    const reads = new FreshReads<string>(1_000);
    let fail: (error: Error) => void = () => {};
    const failing = reads.get("k", () => new Promise<string>((_, reject) => (fail = reject)));
    reads.forget("k");
    assert.equal(await reads.get("k", () => Promise.resolve("new")), "new");
    fail(new Error("old read failed"));
    await assert.rejects(failing, /old read failed/);
    assert.equal(await reads.get("k", () => Promise.resolve("read again")), "new");
  });
});
