import assert from "node:assert/strict";
import { canonicalJson, contentHash } from "../src/canonicalJson.js";

describe("canonical JSON", () => {
  it("ignores key order at every level but not array order", () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [2, 1], c: null } }), '{"a":{"c":null,"d":[2,1]},"b":1}');
    assert.equal(contentHash({ x: 1, y: 2 }), contentHash({ y: 2, x: 1 }));
    assert.notEqual(contentHash([1, 2]), contentHash([2, 1]));
  });

  it("keeps an own __proto__ key as data", () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}');
    assert.equal(canonicalJson(value), '{"__proto__":{"polluted":true},"a":1}');
    assert.notEqual(contentHash(value), contentHash({ a: 1 }));
  });
});
