import assert from "node:assert/strict";
import { createLogger } from "../src/observability/logger.js";

/** The lines a logger writes, parsed. */
function capture(): { lines: Record<string, any>[]; logger: ReturnType<typeof createLogger> } {
  const lines: Record<string, any>[] = [];
  return { lines, logger: createLogger({ destination: { write: (line: string) => void lines.push(JSON.parse(line)) } }) };
}

describe("logger redaction", () => {
  it("replaces credentials and program data at the top level and one level down, and keeps the rest", () => {
    const { lines, logger } = capture();
    logger.info({ apiKey: "k1", "x-api-key": "k2", inputs: { q: "secret question" }, executionId: "e1", lm: { password: "p", model: "m" }, deep: { a: { outputs: "kept at two levels down" } } }, "hello");
    const [line] = lines;
    assert.equal(line.apiKey, "[redacted]");
    assert.equal(line["x-api-key"], "[redacted]");
    assert.equal(line.inputs, "[redacted]");
    assert.equal(line.executionId, "e1");
    assert.deepEqual(line.lm, { password: "[redacted]", model: "m" });
    assert.deepEqual(line.deep, { a: { outputs: "kept at two levels down" } });
    assert.equal(line.msg, "hello");
    assert.equal(line.level, "info");
  });

  it("does not change the caller's object", () => {
    const { lines, logger } = capture();
    const fields = { authorization: "Bearer t", nested: { secret: "s" } };
    logger.warn(fields, "x");
    assert.deepEqual(fields, { authorization: "Bearer t", nested: { secret: "s" } });
    assert.equal(lines[0].authorization, "[redacted]");
    assert.equal(lines[0].nested.secret, "[redacted]");
  });

  it("redacts a child logger's bindings and an error's own fields, keeping its message", () => {
    const { lines, logger } = capture();
    const error = Object.assign(new Error("provider said no"), { response: "the LM's answer" });
    logger.child({ apiKeyEncrypted: "c", component: "pool" }).error({ err: error }, "failed");
    const [line] = lines;
    assert.equal(line.apiKeyEncrypted, "[redacted]");
    assert.equal(line.component, "pool");
    assert.equal(line.err.message, "provider said no");
    assert.equal(line.err.response, "[redacted]");
    assert.ok(!JSON.stringify(line).includes("the LM's answer"));
  });
});
