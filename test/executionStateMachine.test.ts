import assert from "node:assert/strict";
import { ExecutionStatus } from "../entities/index.js";
import { isLegalTransition, TERMINAL } from "../src/executions/ExecutionStateMachine.js";

const { PENDING, RUNNING, COMPLETED, FAILED, CANCELLED } = ExecutionStatus;
const ALL = [PENDING, RUNNING, COMPLETED, FAILED, CANCELLED];

describe("ExecutionStateMachine's transitions", () => {
  const legal = new Set([
    "PENDING→RUNNING",
    "PENDING→CANCELLED",
    "PENDING→FAILED",
    "RUNNING→COMPLETED",
    "RUNNING→FAILED",
    "RUNNING→CANCELLED",
    "RUNNING→PENDING",
    "FAILED→PENDING",
  ]);
  for (const from of ALL) {
    for (const to of ALL) {
      const name = `${from}→${to}`;
      it(`${legal.has(name) ? "allows" : "refuses"} ${name}`, () => {
        assert.equal(isLegalTransition(from, to), legal.has(name));
      });
    }
  }

  it("has COMPLETED and CANCELLED final, and FAILED terminal but retriable", () => {
    assert.deepEqual([...TERMINAL].sort(), [CANCELLED, COMPLETED, FAILED].sort());
    for (const to of ALL) {
      assert.equal(isLegalTransition(COMPLETED, to), false);
      assert.equal(isLegalTransition(CANCELLED, to), false);
    }
  });
});
