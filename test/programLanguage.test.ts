import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import net from "node:net";
import path from "node:path";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { assertNoInternals, expectData, expectError, graphql } from "./support/graphql.js";
import { describeEachDatabase } from "./support/harness.js";
import { BRIDGE_DIR, BRIDGE_PYTHON } from "../src/workers/bridgePaths.js";

const CREATE_LM = `mutation($input: CreateLanguageModelInput!) { createLanguageModel(input: $input) { id } }`;
const CREATE = `mutation($input: CreateProgramInput!) { createProgram(input: $input) { id currentVersion { id modules { name type config predictors demos instructions inputs { name type } outputs { name type values } tools { name description kind programId versionId args { name type } } } } } }`;
const EXECUTE = `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { id status outputs trace error { code layer message } usage { lmCalls } } }`;

/** A weather API on 127.0.0.1: `/now?q=<city>` → `{ current: { temp, city }, echo }`; it echoes the Authorization header it got. */
function weatherApi(): Promise<{ url: string; seen: { path: string; auth: string | undefined }[]; close(): Promise<void> }> {
  const seen: { path: string; auth: string | undefined }[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ path: req.url ?? "", auth: req.headers.authorization });
    res.setHeader("Content-Type", "application/json");
    res.end(JSON.stringify({ current: { temp: 21, city: req.url }, echo: req.headers.authorization }));
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, close: () => new Promise((done) => server.close(() => done())) }),
    ),
  );
}

describeEachDatabase(
  "the program language through real DSPy workers",
  (server) => {
    const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
    const lm = async (name: string, answers: unknown) => expectData(await run(CREATE_LM, { input: { name, model: "dummy", config: { answers } } })).createLanguageModel.id as string;
    let api: Awaited<ReturnType<typeof weatherApi>>;
    let tool: { id: string; currentVersion: { id: string } };
    let population: { id: string; currentVersion: { id: string } };

    before(async () => {
      process.env.WEATHER_API_KEY = "k-secret-123";
      api = await weatherApi();
      const toolLm = await lm("tool-lm", { Paris: { weather: "sunny, 24C" } });
      tool = expectData(
        await run(CREATE, {
          input: {
            name: "weather-lookup",
            description: "The weather in a city.",
            languageModelId: toolLm,
            definition: { inputs: { city: "str" }, modules: { w: { type: "Predict", signature: "city -> weather" } }, forward: [{ call: "w", with: { city: "$input.city" }, as: "x" }, { return: { weather: "$x.weather" } }] },
          },
        }),
      ).createProgram;
      const populationLm = await lm("population-lm", { Paris: { population: "2.1 million" } });
      population = expectData(
        await run(CREATE, {
          input: {
            name: "population-lookup",
            description: "How many people live in a city.",
            languageModelId: populationLm,
            definition: { inputs: { city: "str" }, modules: { p: { type: "Predict", signature: "city -> population" } }, forward: [{ call: "p", with: { city: "$input.city" }, as: "x" }, { return: { population: "$x.population" } }] },
          },
        }),
      ).createProgram;
    });

    after(async () => {
      delete process.env.WEATHER_API_KEY;
      await api.close();
    });

    const agentDefinition = (extraTool: Record<string, unknown> = {}) => ({
      inputs: { question: "str" },
      modules: {
        agent: {
          type: "ReAct",
          signature: "question -> answer",
          config: { max_iters: 4 },
          tools: [
            { program: tool.id, name: "weather" },
            { program: population.id, name: "population" },
            { name: "temperature", description: "Current temperature of a city.", args: { city: "str" }, http: { method: "GET", url: `${api.url}/now?q={city}`, headers: { Authorization: "Bearer ${WEATHER_API_KEY}" }, response: "current.temp", ...extraTool } },
          ],
        },
      },
      forward: [{ call: "agent", with: { question: "$input.question" }, as: "a" }, { return: { answer: "$a.answer" } }],
    });

    it("runs a ReAct agent whose tools are two stored programs (nested runs) and an HTTP call with a secret header", async () => {
      const agentLm = await lm("agent-lm", [
        { next_thought: "Ask the weather program.", next_tool_name: "weather", next_tool_args: '{"city": "Paris"}' },
        { next_thought: "And how many live there.", next_tool_name: "population", next_tool_args: '{"city": "Paris"}' },
        { next_thought: "And the temperature.", next_tool_name: "temperature", next_tool_args: '{"city": "Paris"}' },
        { next_thought: "Done.", next_tool_name: "finish", next_tool_args: "{}" },
        { reasoning: "The tools answered.", answer: "Sunny, 21 degrees, 2.1 million people." },
      ]);
      const agent = expectData(await run(CREATE, { input: { name: "agent", languageModelId: agentLm, definition: agentDefinition() } })).createProgram;
      const [module] = agent.currentVersion.modules;
      assert.deepEqual([module.name, module.type, module.config, module.predictors], ["agent", "ReAct", { max_iters: 4 }, ["agent.react", "agent.extract.predict"]]);
      // The program tool is pinned to the tool's current version, its arguments and description taken from it.
      assert.deepEqual(module.tools[0], { name: "weather", description: "The weather in a city.", kind: "program", programId: tool.id, versionId: tool.currentVersion.id, args: [{ name: "city", type: "str" }] });
      assert.deepEqual([module.tools[1].name, module.tools[1].versionId, module.tools[1].description], ["population", population.currentVersion.id, "How many people live in a city."]);
      assert.equal(module.tools[2].kind, "http");

      const execution = expectData(await run(EXECUTE, { input: { programId: agent.id, inputs: { question: "Weather in Paris?" }, wait: true } })).executeProgram;
      assert.equal(execution.status, "COMPLETED", JSON.stringify(execution.error));
      assert.deepEqual(execution.outputs, { answer: "Sunny, 21 degrees, 2.1 million people." });
      const [step] = execution.trace;
      assert.deepEqual(
        step.tool_calls.map((c: any) => [c.tool, c.args, c.result]),
        [
          ["weather", { city: "Paris" }, { weather: "sunny, 24C" }],
          ["population", { city: "Paris" }, { population: "2.1 million" }],
          ["temperature", { city: "Paris" }, 21],
          ["finish", {}, "Completed."],
        ],
      );
      // 5 agent calls and the two tool programs' own calls, all in the one trace entry.
      assert.equal(step.lm_calls.length, 7);
      assert.equal(execution.usage.lmCalls, 7);
      assert.deepEqual(api.seen.at(-1), { path: "/now?q=Paris", auth: "Bearer k-secret-123" });
    });

    it("never lets a tool's secret out, even when the endpoint echoes it back", async () => {
      const agentLm = await lm("echo-lm", [
        { next_thought: "t", next_tool_name: "temperature", next_tool_args: '{"city": "Rome"}' },
        { next_thought: "t", next_tool_name: "finish", next_tool_args: "{}" },
        { reasoning: "r", answer: "ok" },
      ]);
      const agent = expectData(await run(CREATE, { input: { name: "echo-agent", languageModelId: agentLm, definition: agentDefinition({ response: "echo" }) } })).createProgram;
      const execution = expectData(await run(EXECUTE, { input: { programId: agent.id, inputs: { question: "q" }, wait: true } })).executeProgram;
      assert.equal(execution.status, "COMPLETED", JSON.stringify(execution.error));
      const text = JSON.stringify(execution);
      assert.equal(api.seen.at(-1)?.auth, "Bearer k-secret-123");
      assert.ok(!text.includes("k-secret-123"), "the secret reached the client");
      assert.ok(text.includes("Bearer [REDACTED]"));
    });

    it("runs Refine with an LM-judge reward: the attempt the judge program passes is kept", async () => {
      const judgeLm = await lm("judge-lm", { Paris: { ok: "true" }, London: { ok: "false" } });
      const judge = expectData(
        await run(CREATE, {
          input: {
            name: "judge",
            languageModelId: judgeLm,
            definition: { inputs: { question: "str", answer: "str" }, modules: { j: { type: "Predict", signature: "question, answer -> ok: bool" } }, forward: [{ call: "j", with: { question: "$input.question", answer: "$input.answer" }, as: "v" }, { return: { ok: "$v.ok" } }] },
          },
        }),
      ).createProgram;
      const refineLm = await lm("refine-lm", [{ answer: "London" }, { discussion: "d", advice: '{"best.module": "Check the country."}' }, { answer: "Paris" }]);
      const definition = {
        inputs: { question: "str" },
        modules: {
          best: {
            type: "Refine",
            signature: "question -> answer",
            config: { N: 3, threshold: 1 },
            reward: { kind: "lm_judge", output: "answer", judge: { program: judge.id, score: "ok", inputs: { question: "input.question", answer: "output.answer" } } },
          },
        },
        forward: [{ call: "best", with: { question: "$input.question" }, as: "b" }, { return: { answer: "$b.answer" } }],
      };
      const program = expectData(await run(CREATE, { input: { name: "refined", languageModelId: refineLm, definition } })).createProgram;
      assert.deepEqual(program.currentVersion.modules[0].predictors, ["best.module"]);
      const execution = expectData(await run(EXECUTE, { input: { programId: program.id, inputs: { question: "Capital of France?" }, wait: true } })).executeProgram;
      assert.equal(execution.status, "COMPLETED", JSON.stringify(execution.error));
      assert.deepEqual(execution.outputs, { answer: "Paris" });
      // Two attempts, Refine's advice, and a judge call per attempt.
      assert.equal(execution.usage.lmCalls, 5);
    });

    it("optimizes the agent with BootstrapFewShot (its tool programs run during compile), and plain DSPy loads the state", async function () {
      this.timeout(120_000);
      // By prompt substring (ChatAdapter names the first output field it wants): the extraction, a second step, a first step.
      const agentLm = await lm("agent-opt-lm", {
        "`[[ ## reasoning ## ]]`": { reasoning: "The weather tool said so.", answer: "Sunny." },
        observation_0: { next_thought: "Done.", next_tool_name: "finish", next_tool_args: "{}" },
        "`[[ ## next_thought ## ]]`": { next_thought: "Ask the weather program.", next_tool_name: "weather", next_tool_args: '{"city": "Paris"}' },
      });
      const agent = expectData(await run(CREATE, { input: { name: "agent-opt", languageModelId: agentLm, definition: agentDefinition() } })).createProgram;
      const examples = ["Weather in Paris?", "Is it sunny in Paris?"].map((question) => ({ inputs: { question }, labels: { answer: "Sunny." }, split: "TRAIN" }));
      const datasetId = expectData(await run(`mutation($e: [ExampleInput!]) { createDataset(input: { name: "agent-train", examples: $e }) { id } }`, { e: examples })).createDataset.id;
      const queued = expectData(
        await run(`mutation($input: OptimizeProgramInput!) { optimizeProgram(input: $input) { id } }`, {
          input: { programId: agent.id, optimizer: "BOOTSTRAP_FEW_SHOT", config: { max_bootstrapped_demos: 1, max_labeled_demos: 0 }, datasetId, trainSplit: "TRAIN", metric: { kind: "exact_match", output: "answer", label: "answer" } },
        }),
      ).optimizeProgram;
      let optimization: any;
      const deadline = Date.now() + 100_000;
      do {
        await new Promise((resolve) => setTimeout(resolve, 200));
        optimization = expectData(await run(`query($id: ID!) { optimization(id: $id) { status error { code message } resultVersion { dspyState modules { predictors demos } } } }`, { id: queued.id })).optimization;
      } while (!["COMPLETED", "FAILED", "CANCELLED"].includes(optimization.status) && Date.now() < deadline);
      assert.equal(optimization.status, "COMPLETED", JSON.stringify(optimization.error));
      assert.deepEqual(optimization.resultVersion.modules.map((m: any) => [m.predictors, m.demos]), [[["agent.react", "agent.extract.predict"], 2]]);
      // The extraction's demo holds the trajectory: the weather program really answered during compile.
      assert.ok(JSON.stringify(optimization.resultVersion.dspyState["agent.extract.predict"].demos).includes("sunny, 24C"));
      const plain = `
import json, sys, dspy
def weather(city: str) -> str:
    """The weather in a city."""
def population(city: str) -> str:
    """How many people live in a city."""
def temperature(city: str) -> int:
    """Current temperature of a city."""
class Agent(dspy.Module):
    def __init__(self):
        super().__init__()
        self.agent = dspy.ReAct("question -> answer", tools=[weather, population, temperature], max_iters=4)
program = Agent()
program.load_state(json.load(sys.stdin))
print(json.dumps({name: len(p.demos) for name, p in program.named_predictors()}))
`;
      const loaded = spawnSync(BRIDGE_PYTHON, ["-c", plain], { input: JSON.stringify(optimization.resultVersion.dspyState), encoding: "utf8", env: { PATH: process.env.PATH ?? "", LITELLM_LOCAL_MODEL_COST_MAP: "True" } });
      assert.equal(loaded.status, 0, loaded.stderr);
      assert.deepEqual(JSON.parse(loaded.stdout.trim().split("\n").at(-1)!), { "agent.react": 1, "agent.extract.predict": 1 });
    });

    it("runs ProgramOfThought: the model's code runs in the worker's sandbox and the answer reads its output", async () => {
      const potLm = await lm("pot-lm", [
        { reasoning: "Compute it.", generated_code: "```python\nresult = sum(range(1, 101))\nSUBMIT({'answer': result})\n```" },
        { reasoning: "The code computed 5050.", answer: "5050" },
      ]);
      const definition = { inputs: { question: "str" }, modules: { pot: { type: "ProgramOfThought", signature: "question -> answer: int" } }, forward: [{ call: "pot", with: { question: "$input.question" }, as: "p" }, { return: { answer: "$p.answer" } }] };
      const program = expectData(await run(CREATE, { input: { name: "pot", languageModelId: potLm, definition } })).createProgram;
      assert.deepEqual(program.currentVersion.modules[0].predictors, ["pot.code_generate.predict", "pot.code_regenerate.predict", "pot.generate_output.predict"]);
      const execution = expectData(await run(EXECUTE, { input: { programId: program.id, inputs: { question: "Sum 1 to 100?" }, wait: true } })).executeProgram;
      assert.equal(execution.status, "COMPLETED", JSON.stringify(execution.error));
      assert.deepEqual(execution.outputs, { answer: 5050 });
      assert.match(JSON.stringify(execution.trace[0].lm_calls[1].messages), /5050/);
    });

    it("refuses references it cannot pin, secrets and hosts the operator did not allow, with paths, writing nothing", async () => {
      const agentLm = await lm("refused-lm", [{ answer: "unused" }]);
      const before = await server().countRows("program");
      const cases: [unknown, string, string][] = [
        [{ ...agentDefinition(), modules: { agent: { ...agentDefinition().modules.agent, tools: [{ program: "00000000-0000-7000-8000-000000000000", name: "weather" }] } } }, "input.definition.modules.agent.tools[0].program", "no program"],
        [{ ...agentDefinition(), modules: { agent: { ...agentDefinition().modules.agent, tools: [{ program: tool.id, version: "00000000-0000-7000-8000-000000000000", name: "weather" }] } } }, "input.definition.modules.agent.tools[0].program", "no version"],
        [agentDefinition({ headers: { Authorization: "Bearer ${SECRETS_KEY}" } }), "input.definition.modules.agent.tools[2].http.headers.Authorization", "server's own variables"],
        [agentDefinition({ headers: { "X-Token": "${HOME}" } }), 'input.definition.modules.agent.tools[2].http.headers["X-Token"]', "not a variable the operator allowed"],
        [agentDefinition({ url: "http://169.254.169.254/latest/meta-data?q={city}" }), "input.definition.modules.agent.tools[2].http.url", "169.254.169.254"],
        [agentDefinition({ url: "http://{city}.example.com/" }), "input.definition.modules.agent.tools[2].http.url", "fixed host"],
        [agentDefinition({ url: `${api.url}/now?q={town}` }), "input.definition.modules.agent.tools[2].http.url", "{town} is not an argument"],
        [
          { inputs: { q: "str" }, modules: { c: { type: "ColBERTv2", url: "http://169.254.169.254/search" } }, forward: [{ call: "c", with: { query: "$input.q" }, as: "r" }, { return: { p: "$r.passages" } }] },
          "input.definition.modules.c.url",
          "169.254.169.254",
        ],
      ];
      for (const [definition, path, reason] of cases) {
        const error = expectError(await run(CREATE, { input: { name: `refused-${path.length}`, languageModelId: agentLm, definition } }), "BAD_USER_INPUT");
        const issues = (error.extensions?.issues ?? [{ path: error.extensions?.path, reason: error.message }]) as { path: string; reason: string }[];
        assert.ok(issues.some((i) => i.path === path && i.reason.includes(reason)), `${path}: ${JSON.stringify(issues)}`);
      }
      assert.equal(await server().countRows("program"), before);
    });

    it("runs map, loop and if in the worker as the definition says, bounded by MAX_LM_CALLS_PER_EXECUTION", async () => {
      const answers = [{ query: "first", done: "False" }, { query: "second", done: "True" }, { answer: "A" }, { answer: "B" }];
      const qaLm = await lm("flow-lm", answers);
      const definition = {
        inputs: { question: "str" },
        modules: { q: { type: "Predict", signature: "question, notes: list[str] -> query, done: bool" }, a: { type: "Predict", signature: "question -> answer" } },
        forward: [
          { loop: { max: 3, until: { field: "$s.done", equals: true } }, as: "hops", vars: { notes: { type: "list[str]", value: [] } }, steps: [{ call: "q", with: { question: "$input.question", notes: "$hops.notes" }, as: "s" }], append: { notes: "$s.query" } },
          { map: "$hops.notes", as: "each", steps: [{ call: "a", with: { question: "$each.item" }, as: "r" }, { return: { answer: "$r.answer" } }] },
          { return: { notes: "$hops.notes", answers: "$each.answer" } },
        ],
      };
      const program = expectData(await run(CREATE, { input: { name: "flow", languageModelId: qaLm, definition } })).createProgram;
      const execution = expectData(await run(EXECUTE, { input: { programId: program.id, inputs: { question: "q" }, wait: true } })).executeProgram;
      assert.equal(execution.status, "COMPLETED", JSON.stringify(execution.error));
      assert.deepEqual(execution.outputs, { notes: ["first", "second"], answers: ["A", "B"] });
      assert.deepEqual(execution.trace.map((e: any) => e.step), ["hops[0].s", "hops[1].s", "each[0].r", "each[1].r"]);
    });
  },
  { DSPY_ADAPTER: "python", WORKERS: "1", OPTIMIZATION_WORKERS: "1" },
);

/** bridge-py/tests/mcp_server.py on 127.0.0.1 (streamable HTTP at /mcp), requiring `Bearer <token>`. */
async function mcpServer(token: string): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  const child = spawn(BRIDGE_PYTHON, [path.join(BRIDGE_DIR, "tests", "mcp_server.py"), String(port)], { env: { MCP_TEST_TOKEN: token, PATH: process.env.PATH ?? "" }, stdio: "ignore" });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => (socket.end(), resolve(true))).on("error", () => resolve(false));
    });
    if (open) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error("the MCP test server did not start");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    stop: () => new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : (child.once("exit", () => resolve()), child.kill("SIGTERM")))),
  };
}

describeEachDatabase(
  "MCP tools through real DSPy workers",
  (server) => {
    const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
    let mcp: Awaited<ReturnType<typeof mcpServer>>;
    before(async () => {
      process.env.UNITS_API_KEY = "mcp-secret-token-42";
      mcp = await mcpServer("mcp-secret-token-42");
    });
    after(async () => {
      delete process.env.UNITS_API_KEY;
      await mcp.stop();
    });
    const definition = (tools: string[], headers: Record<string, string> = { Authorization: "Bearer ${UNITS_API_KEY}" }) => ({
      inputs: { question: "str" },
      modules: { agent: { type: "ReAct", signature: "question -> answer", tools: [{ mcp: { url: mcp.url, tools, headers } }] } },
      forward: [{ call: "agent", with: { question: "$input.question" }, as: "a" }, { return: { answer: "$a.answer" } }],
    });

    it("lists the server's tools when the program is written and calls them from a ReAct agent", async () => {
      const lmId = expectData(
        await run(CREATE_LM, {
          input: {
            name: "mcp-lm",
            model: "dummy",
            config: {
              answers: [
                { next_thought: "Convert it.", next_tool_name: "convert_c_to_f", next_tool_args: '{"celsius": 100}' },
                { next_thought: "Done.", next_tool_name: "finish", next_tool_args: "{}" },
                { reasoning: "The tool said 212.", answer: "212 F" },
              ],
            },
          },
        }),
      ).createLanguageModel.id;
      const program = expectData(await run(CREATE, { input: { name: "mcp-agent", languageModelId: lmId, definition: definition(["convert_c_to_f", "shout"]) } })).createProgram;
      assert.deepEqual(
        program.currentVersion.modules[0].tools.map((t: any) => [t.name, t.kind, t.description, t.args.map((a: any) => [a.name, a.type])]),
        [
          ["convert_c_to_f", "mcp", "Converts a temperature from Celsius to Fahrenheit.", [["celsius", "float"]]],
          ["shout", "mcp", "Upper-cases a text.", [["text", "str"]]],
        ],
      );
      const execution = expectData(await run(EXECUTE, { input: { programId: program.id, inputs: { question: "100 C in F?" }, wait: true } })).executeProgram;
      assert.equal(execution.status, "COMPLETED", JSON.stringify(execution.error));
      assert.deepEqual(execution.outputs, { answer: "212 F" });
      const [call] = execution.trace[0].tool_calls;
      assert.deepEqual([call.tool, call.args], ["convert_c_to_f", { celsius: 100 }]);
      assert.match(JSON.stringify(call.result), /212/);
      assert.ok(!JSON.stringify(execution).includes("mcp-secret-token-42"));
    });

    it("refuses a tool the server does not offer, and a server it cannot list, at their paths, writing nothing", async () => {
      const lmId = expectData(await run(CREATE_LM, { input: { name: "mcp-lm-2", model: "dummy", config: { answers: [{ answer: "x" }] } } })).createLanguageModel.id;
      const before = await server().countRows("program");
      const missing = expectError(await run(CREATE, { input: { name: "mcp-missing", languageModelId: lmId, definition: definition(["shout", "teleport"]) } }), "BAD_USER_INPUT");
      assert.deepEqual(missing.extensions?.issues, [{ path: "input.definition.modules.agent.tools[0].mcp.tools[1]", reason: "the MCP server has no tool 'teleport' (tools: convert_c_to_f, shout)" }]);
      const refused = expectError(await run(CREATE, { input: { name: "mcp-refused", languageModelId: lmId, definition: definition(["shout"], { Authorization: "Bearer wrong" }) } }), "BAD_USER_INPUT");
      assert.equal(refused.extensions?.path, "input.definition.modules.agent.tools[0].mcp.url");
      assert.match(refused.message, /could not list the MCP server's tools/);
      assertNoInternals(JSON.stringify(refused));
      assert.equal(await server().countRows("program"), before);
    });
  },
  { DSPY_ADAPTER: "python", WORKERS: "1" },
);

describeEachDatabase(
  "a run over its LM call budget",
  (server) => {
    it("fails with LIMIT_EXCEEDED and its partial trace, not retried", async () => {
      const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
      const answers = Array.from({ length: 10 }, (_, i) => ({ query: `q${i}`, done: "False" }));
      const lmId = expectData(await run(CREATE_LM, { input: { name: "loop-lm", model: "dummy", config: { answers } } })).createLanguageModel.id;
      const definition = {
        inputs: { question: "str" },
        modules: { q: { type: "Predict", signature: "question -> query, done: bool" } },
        forward: [{ loop: { max: 10 }, as: "hops", vars: { n: { type: "list[str]", value: [] } }, steps: [{ call: "q", with: { question: "$input.question" }, as: "s" }], append: { n: "$s.query" } }, { return: { n: "$hops.n" } }],
      };
      const program = expectData(await run(CREATE, { input: { name: "looping", languageModelId: lmId, definition } })).createProgram;
      const execution = expectData(await run(EXECUTE, { input: { programId: program.id, inputs: { question: "q" }, wait: true } })).executeProgram;
      assert.equal(execution.status, "FAILED");
      assert.deepEqual([execution.error.code, execution.error.layer], ["LIMIT_EXCEEDED", "validation"]);
      assert.match(execution.error.message, /more than 3 LM calls/);
    });
  },
  { DSPY_ADAPTER: "python", WORKERS: "1", MAX_LM_CALLS_PER_EXECUTION: "3" },
);
