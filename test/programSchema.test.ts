import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { programSchemaJson } from "../src/programs/definition/programSchemaJson.js";
import { BRIDGE_DIR } from "../src/workers/bridgePaths.js";
import { MODULE_TYPES, OPTIMIZER_ENTRIES, METRIC_KIND_ENTRIES, optionProblem } from "../src/catalog.js";

describe("the rules both languages read", () => {
  it("bridge-py/dspy_bridge/program.schema.json is what the TypeScript types generate (run `npm run schema` after changing them)", () => {
    const committed = fs.readFileSync(path.join(BRIDGE_DIR, "dspy_bridge", "program.schema.json"), "utf8");
    assert.equal(committed, programSchemaJson());
  });

  it("the catalog names every module type, optimizer and metric kind with options the server can explain", () => {
    assert.deepEqual(Object.keys(MODULE_TYPES), ["Predict", "ChainOfThought", "MultiChainComparison", "BestOfN", "Refine", "ReAct", "ProgramOfThought", "Retrieve", "ColBERTv2"]);
    assert.equal(Object.keys(OPTIMIZER_ENTRIES).length, 7);
    assert.ok(Object.hasOwn(METRIC_KIND_ENTRIES, "lm_judge"));
    for (const entry of [...Object.values(MODULE_TYPES), ...Object.values(OPTIMIZER_ENTRIES)]) {
      for (const [key, schema] of Object.entries(entry.options)) {
        if (schema.default !== undefined) assert.equal(optionProblem(schema, schema.default), null, `${key}'s default is not a valid value`);
      }
    }
  });

  it("explains an option's problem in a sentence", () => {
    assert.equal(optionProblem({ type: "integer", minimum: 1, maximum: 10 }, 0), "must be an integer from 1 to 10");
    assert.equal(optionProblem({ type: "integer", minimum: 1, maximum: 10 }, 2.5), "must be an integer from 1 to 10");
    assert.equal(optionProblem({ type: ["number", "null"], minimum: 0 }, "x"), "must be a number >= 0 or null");
    assert.equal(optionProblem({ type: ["number", "null"], minimum: 0 }, null), null);
    assert.equal(optionProblem({ enum: ["a", "b", null] }, "c"), "must be one of a, b or null");
    assert.equal(optionProblem({ type: "boolean" }, 1), "must be true or false");
  });
});
