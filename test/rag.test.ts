import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { expectData, graphql } from "./support/graphql.js";
import { describeEachDatabase } from "./support/harness.js";
import { BRIDGE_PYTHON } from "../src/workers/bridgePaths.js";
import { ragDefinition, ragDocuments } from "./support/rag.js";

const CORPUS = `query($id: ID!) { corpus(id: $id) { id status embeddedCount error { code message } } }`;
const PROGRAM = `mutation($input: CreateProgramInput!) { createProgram(input: $input) { id currentVersion { id } } }`;
const EXECUTE = `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { id status outputs trace error { code message } usage { lmCalls } } }`;
const OPTIMIZE = `mutation($input: OptimizeProgramInput!) { optimizeProgram(input: $input) { id status } }`;
const OPTIMIZATION = `query($id: ID!) { optimization(id: $id) { status error { code message } resultVersion { id dspyState modules { name predictors demos } } } }`;

async function readyCorpus(url: string, documents: { text: string }[]): Promise<string> {
  const run = (query: string, variables: Record<string, unknown> = {}) => graphql(url, query, variables);
  const id = expectData<any>(await run(`mutation { createCorpus(input: { name: "rag" }) { id } }`)).createCorpus.id;
  expectData(await run(`mutation($input: AddDocumentsInput!) { addDocuments(input: $input) { corpus { id } } }`, { input: { corpusId: id, documents } }));
  const deadline = Date.now() + 240_000;
  for (;;) {
    const corpus = expectData<any>(await run(CORPUS, { id })).corpus;
    if (corpus.status === "READY") return id;
    if (corpus.status === "FAILED" || Date.now() > deadline) assert.fail(`corpus is ${corpus.status}: ${JSON.stringify(corpus.error)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const QUESTION = "What is the launch code of the project Ada Moreno runs?";
/** DummyLM by prompt substring, most specific first: the answer call sees the code; the second hop, who runs the project. */
const ANSWERS = {
  tangerine: { reasoning: "The context gives the code.", answer: "tangerine" },
  "flight director who runs": { reasoning: "Ada Moreno runs Nightingale; find its code.", query: "launch code of project Nightingale" },
  "Ada Moreno": { reasoning: "First find Ada Moreno's project.", query: "project run by Ada Moreno" },
};

describeEachDatabase(
  "multi-hop retrieval over a stored corpus, through real DSPy workers",
  (server) => {
    const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
    let corpusId: string;
    let programId: string;

    before(async function () {
      this.timeout(300_000);
      corpusId = await readyCorpus(server().url, ragDocuments());
      const lm = expectData<any>(await run(`mutation($input: CreateLanguageModelInput!) { createLanguageModel(input: $input) { id } }`, { input: { name: "rag-lm", model: "dummy", config: { answers: ANSWERS } } })).createLanguageModel.id;
      programId = expectData<any>(await run(PROGRAM, { input: { name: "multi-hop", languageModelId: lm, definition: ragDefinition(corpusId) } })).createProgram.id;
    });

    it("retrieves, writes the next query from what it found, retrieves again, then answers", async () => {
      const execution = expectData<any>(await run(EXECUTE, { input: { programId, inputs: { question: QUESTION }, wait: true } })).executeProgram;
      assert.equal(execution.status, "COMPLETED", JSON.stringify(execution.error));
      assert.equal(execution.outputs.answer, "tangerine");
      assert.deepEqual(execution.trace.map((e: any) => [e.step, e.type]), [
        ["hops[0].q", "ChainOfThought"],
        ["hops[0].found", "Retrieve"],
        ["hops[1].q", "ChainOfThought"],
        ["hops[1].found", "Retrieve"],
        ["a", "ChainOfThought"],
      ]);
      // Each hop found its fact among 1,002 documents, from the query the LM wrote.
      assert.equal(execution.trace[1].inputs.query, "project run by Ada Moreno");
      assert.match(execution.trace[1].outputs.passages[0], /Ada Moreno is the flight director/);
      assert.equal(execution.trace[3].inputs.query, "launch code of project Nightingale");
      assert.match(execution.trace[3].outputs.passages[0], /tangerine/);
      assert.equal(execution.outputs.context.length, 2);
      assert.equal(execution.usage.lmCalls, 3); // retrieval makes no LM call
    });

    it("refuses to delete a corpus a program searches (CONFLICT), and keeps it", async () => {
      const response = await run(`mutation($id: ID!) { deleteCorpus(id: $id) }`, { id: corpusId });
      assert.equal(response.errors?.[0]?.extensions?.code, "CONFLICT");
      assert.match(response.errors![0]!.message, /searched by version 1 of program 'multi-hop'/);
      assert.equal(expectData<any>(await run(CORPUS, { id: corpusId })).corpus.status, "READY");
    });

    it("refuses a Retrieve over a corpus the tenant does not have, with its path, writing nothing", async () => {
      const lm = expectData<any>(await run(`mutation { createLanguageModel(input: { name: "rag-lm-2", model: "dummy", config: { answers: [{ answer: "x" }] } }) { id } }`)).createLanguageModel.id;
      const response = await run(PROGRAM, { input: { name: "no-corpus", languageModelId: lm, definition: ragDefinition("00000000-0000-7000-8000-00000000dead") } });
      assert.equal(response.errors?.[0]?.extensions?.code, "BAD_USER_INPUT");
      assert.deepEqual(response.errors?.[0]?.extensions?.issues, [{ path: "input.definition.modules.search.corpus", reason: "no corpus '00000000-0000-7000-8000-00000000dead'" }]);
      assert.equal(await server().countRows("program WHERE name = 'no-corpus'"), 0);
    });

    it("optimizes with BootstrapFewShot, and plain DSPy loads the state it writes", async function () {
      this.timeout(120_000);
      const examples = [{ inputs: { question: QUESTION }, labels: { answer: "tangerine" }, split: "TRAIN" }];
      const datasetId = expectData<any>(await run(`mutation($e: [ExampleInput!]) { createDataset(input: { name: "rag-train", examples: $e }) { id } }`, { e: examples })).createDataset.id;
      const metric = { kind: "exact_match", output: "answer", label: "answer" };
      const queued = expectData<any>(await run(OPTIMIZE, { input: { programId, optimizer: "BOOTSTRAP_FEW_SHOT", config: { max_bootstrapped_demos: 1, max_labeled_demos: 0 }, datasetId, trainSplit: "TRAIN", metric } })).optimizeProgram;
      let optimization: any;
      const deadline = Date.now() + 100_000;
      do {
        await new Promise((resolve) => setTimeout(resolve, 200));
        optimization = expectData<any>(await run(OPTIMIZATION, { id: queued.id })).optimization;
      } while (!["COMPLETED", "FAILED", "CANCELLED"].includes(optimization.status) && Date.now() < deadline);
      assert.equal(optimization.status, "COMPLETED", JSON.stringify(optimization.error));
      const version = optimization.resultVersion;
      assert.deepEqual(
        version.modules.map((m: any) => [m.name, m.predictors, m.demos]),
        [["hop", ["hop.predict"], 1], ["search", [], 0], ["answer", ["answer.predict"], 1]],
      );
      // The user's own DSPy program of the same shape loads the file (predictor names and demos).
      const plain = `
import json, sys, dspy
class MultiHop(dspy.Module):
    def __init__(self):
        super().__init__()
        self.hop = dspy.ChainOfThought("context: list[str], question -> query")
        self.answer = dspy.ChainOfThought("context: list[str], question -> answer")
program = MultiHop()
program.load_state(json.load(sys.stdin))
print(json.dumps({name: len(p.demos) for name, p in program.named_predictors()}))
`;
      const loaded = spawnSync(BRIDGE_PYTHON, ["-c", plain], { input: JSON.stringify(version.dspyState), encoding: "utf8", env: { PATH: process.env.PATH ?? "", LITELLM_LOCAL_MODEL_COST_MAP: "True" } });
      assert.equal(loaded.status, 0, loaded.stderr);
      assert.deepEqual(JSON.parse(loaded.stdout.trim().split("\n").at(-1)!), { "hop.predict": 1, "answer.predict": 1 });
    });
  },
  { DSPY_ADAPTER: "python", WORKERS: "1", OPTIMIZATION_WORKERS: "1" },
);
