import { METRIC_KIND_ENTRIES, entryOf } from "../../catalog.js";
import { DEFINITION_LIMITS as LIMITS, type HttpToolSpec } from "./types.js";
import { parseFields, type Add, type Fields } from "./declarations.js";
import { nameProblem } from "./names.js";
import { describeValue, isObject, quote, type Seg } from "./format.js";

/*
 * The parts of a module beyond its signature: a reward (BestOfN, Refine) and tools (ReAct). A part
 * that names a stored program is checked here for shape only; ProgramService resolves it (tenant,
 * version pinned, the judge's outputs) before anything is written.
 */

export interface RawProgramRef {
  programId: string;
  versionId?: string;
  segs: Seg[];
}

export interface RawReward {
  kind: string;
  output: string;
  input?: string;
  value?: unknown;
  tolerance?: number;
  judge?: { program: RawProgramRef; score: string; inputs: Record<string, string> };
  segs: Seg[];
}

export interface RawTool {
  name: string;
  description?: string;
  args?: Fields;
  program?: RawProgramRef;
  http?: HttpToolSpec;
  /** Tools of an MCP server (name is ""): their descriptions and input schemas are listed when the program is written. */
  mcp?: { url: string; headers: Record<string, string>; tools: string[] };
  segs: Seg[];
}

const REWARD_KEYS = ["kind", "output", "input", "value", "tolerance", "judge"];
const JUDGE_KEYS = ["program", "version", "score", "inputs"];
const JUDGE_SOURCE = /^(input|output)\.[A-Za-z][A-Za-z0-9_]*$/;

export function parseReward(value: unknown, segs: Seg[], add: Add): RawReward | undefined {
  if (!isObject(value)) {
    add(segs, `reward must be an object like { "kind": "exact_match", "output": "answer", "value": "yes" }, got ${describeValue(value)}`);
    return undefined;
  }
  const before = count(add);
  for (const key of Object.keys(value)) if (!REWARD_KEYS.includes(key)) add([...segs, key], `unknown key ${quote(key)} in reward (expected ${REWARD_KEYS.join(", ")})`);
  const kind = value["kind"];
  const entry = entryOf(METRIC_KIND_ENTRIES, kind);
  if (!entry) add([...segs, "kind"], `reward kind must be one of ${Object.keys(METRIC_KIND_ENTRIES).join(", ")}, got ${describeValue(kind)}`);
  const output = value["output"];
  if (typeof output !== "string" || output === "") add([...segs, "output"], `output must name an output of the module, got ${describeValue(output)}`);
  const reward: RawReward = { kind: String(kind), output: String(output), segs };
  if (kind === "lm_judge") {
    for (const key of ["input", "value"]) if (Object.hasOwn(value, key)) add([...segs, key], `an lm_judge reward takes a judge, not ${quote(key)}`);
    if (!Object.hasOwn(value, "judge")) add(segs, "an lm_judge reward needs judge: { program, score, inputs }");
    else {
      const judge = parseJudge(value["judge"], [...segs, "judge"], add);
      if (judge) reward.judge = judge;
    }
  } else if (entry) {
    if (Object.hasOwn(value, "judge")) add([...segs, "judge"], "only an lm_judge reward takes a judge");
    const hasInput = Object.hasOwn(value, "input");
    if (hasInput === Object.hasOwn(value, "value")) add(segs, "a reward compares the output with exactly one of input (a module input's name) or value (a literal)");
    else if (hasInput) {
      const input = value["input"];
      if (typeof input !== "string" || input === "") add([...segs, "input"], `input must name an input of the module, got ${describeValue(input)}`);
      else reward.input = input;
    } else reward.value = value["value"];
  }
  if (Object.hasOwn(value, "tolerance")) {
    const tolerance = value["tolerance"];
    if (kind !== "numeric") add([...segs, "tolerance"], "only a numeric reward takes a tolerance");
    else if (typeof tolerance !== "number" || !Number.isFinite(tolerance) || tolerance < 0) add([...segs, "tolerance"], "must be a number >= 0");
    else reward.tolerance = tolerance;
  }
  return count(add) === before ? reward : undefined;
}

function parseJudge(value: unknown, segs: Seg[], add: Add): RawReward["judge"] {
  if (!isObject(value)) {
    add(segs, `judge must be an object { program, score, inputs }, got ${describeValue(value)}`);
    return undefined;
  }
  for (const key of Object.keys(value)) if (!JUDGE_KEYS.includes(key)) add([...segs, key], `unknown key ${quote(key)} in judge (expected ${JUDGE_KEYS.join(", ")})`);
  const program = parseProgramRef(value, segs, add);
  const score = value["score"];
  if (typeof score !== "string" || score === "") add([...segs, "score"], `score must name the judge program's score output, got ${describeValue(score)}`);
  const inputs = value["inputs"];
  const mapping: Record<string, string> = {};
  if (!isObject(inputs)) add([...segs, "inputs"], `inputs must map each judge input to input.<field> or output.<field>, got ${describeValue(inputs)}`);
  else {
    for (const [name, source] of Object.entries(inputs)) {
      if (typeof source !== "string" || !JUDGE_SOURCE.test(source)) add([...segs, "inputs", name], `must be input.<field> or output.<field>, got ${describeValue(source)}`);
      else mapping[name] = source;
    }
  }
  return program && typeof score === "string" && score !== "" ? { program, score, inputs: mapping } : undefined;
}

/** `program: "<id>"` with an optional `version: "<versionId>"` (default: the program's current version). */
function parseProgramRef(value: Record<string, unknown>, segs: Seg[], add: Add): RawProgramRef | undefined {
  const id = value["program"];
  if (typeof id !== "string" || id === "") {
    add([...segs, "program"], `program must be a stored program's id, got ${describeValue(id)}`);
    return undefined;
  }
  if (!Object.hasOwn(value, "version")) return { programId: id, segs: [...segs, "program"] };
  const version = value["version"];
  if (typeof version !== "string" || version === "") {
    add([...segs, "version"], `version must be a version id of that program, got ${describeValue(version)}`);
    return undefined;
  }
  return { programId: id, versionId: version, segs: [...segs, "program"] };
}

const PROGRAM_TOOL_KEYS = ["program", "version", "name", "description"];
const HTTP_TOOL_KEYS = ["name", "description", "args", "http"];
const HTTP_KEYS = ["method", "url", "body", "headers", "response"];
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];
const PLACEHOLDER = /\{([A-Za-z][A-Za-z0-9_]*)\}/g;
const SECRET = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** The NAMEs a text refers to as secrets (${NAME}): allowed in a tool's header values, read from the server's environment. */
export function secretNames(text: string): string[] {
  return [...text.matchAll(SECRET)].map((match) => match[1]!);
}

export function parseTools(value: unknown, segs: Seg[], add: Add): RawTool[] | undefined {
  if (!Array.isArray(value)) {
    add(segs, `tools must be an array of tools ({ "program": "<id>", "name" }, { "name", "description", "args", "http" } or { "mcp": { "url", "tools" } }), got ${describeValue(value)}`);
    return undefined;
  }
  if (value.length === 0) add(segs, "a ReAct module needs at least one tool");
  if (value.length > LIMITS.maxTools) add(segs, `${value.length} tools; the limit is ${LIMITS.maxTools}`);
  const before = count(add);
  const tools: RawTool[] = [];
  const names = new Map<string, number>();
  value.forEach((raw: unknown, i) => {
    const tsegs = [...segs, i];
    const tool = isObject(raw) && Object.hasOwn(raw, "mcp") ? parseMcpTools(raw, tsegs, add) : parseTool(raw, tsegs, add);
    if (!tool) return;
    const named: [string, Seg[]][] = tool.mcp ? tool.mcp.tools.map((name, j) => [name, [...tsegs, "mcp", "tools", j]]) : [[tool.name, [...tsegs, "name"]]];
    for (const [name, at] of named) {
      const first = names.get(name);
      if (first !== undefined) add(at, `tool name ${quote(name)} is already used by tools[${first}]`);
      else if (name === "finish") add(at, "tool name 'finish' is reserved: ReAct adds its own 'finish' tool");
      names.set(name, i);
    }
    tools.push(tool);
  });
  return count(add) === before ? tools : undefined;
}

const MCP_KEYS = ["url", "tools", "headers"];
const MCP_TOOL_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** `{ "mcp": { "url", "tools": [names], "headers"? } }`: one tool per name the server offers. */
function parseMcpTools(value: Record<string, unknown>, segs: Seg[], add: Add): RawTool | undefined {
  for (const key of Object.keys(value)) if (key !== "mcp") add([...segs, key], `unknown key ${quote(key)} in an MCP tool (expected mcp)`);
  const mcp = value["mcp"];
  const msegs = [...segs, "mcp"];
  if (!isObject(mcp)) {
    add(msegs, `mcp must be an object { "url", "tools": [names], "headers"? }, got ${describeValue(mcp)}`);
    return undefined;
  }
  for (const key of Object.keys(mcp)) if (!MCP_KEYS.includes(key)) add([...msegs, key], `unknown key ${quote(key)} in mcp (expected ${MCP_KEYS.join(", ")})`);
  const url = mcp["url"];
  let ok = true;
  if (typeof url !== "string" || !/^https?:\/\/[^/?#\s{}]+(\/[^?#\s]*)?$/.test(url)) {
    add([...msegs, "url"], `url must be the MCP server's http(s) endpoint, got ${describeValue(url)}`);
    ok = false;
  }
  const headers = mcp["headers"] ?? {};
  if (!isObject(headers) || !Object.entries(headers).every(([k, v]) => /^[A-Za-z0-9-]+$/.test(k) && typeof v === "string" && !/[\r\n]/.test(v))) {
    add([...msegs, "headers"], "headers must map header names (letters, digits, -) to one-line strings (${NAME} for a secret)");
    ok = false;
  }
  const names = mcp["tools"];
  if (!Array.isArray(names) || names.length === 0) {
    add([...msegs, "tools"], `tools must list the names of the server's tools to use, got ${describeValue(names)}`);
    return undefined;
  }
  names.forEach((name: unknown, j) => {
    if (typeof name !== "string" || !MCP_TOOL_NAME.test(name)) {
      add([...msegs, "tools", j], `an MCP tool name is 1 to 64 letters, digits, _, . or -, got ${describeValue(name)}`);
      ok = false;
    }
  });
  return ok ? { name: "", mcp: { url: url as string, headers: headers as Record<string, string>, tools: names as string[] }, segs } : undefined;
}

function parseTool(value: unknown, segs: Seg[], add: Add): RawTool | undefined {
  if (!isObject(value)) {
    add(segs, `tool must be an object, got ${describeValue(value)}`);
    return undefined;
  }
  const isProgram = Object.hasOwn(value, "program");
  if (isProgram === Object.hasOwn(value, "http")) {
    add(segs, "a tool has exactly one of program (a stored program) or http (an HTTP call)");
    return undefined;
  }
  const keys = isProgram ? PROGRAM_TOOL_KEYS : HTTP_TOOL_KEYS;
  for (const key of Object.keys(value)) if (!keys.includes(key)) add([...segs, key], `unknown key ${quote(key)} in ${isProgram ? "a program" : "an HTTP"} tool (expected ${keys.join(", ")})`);
  const name = value["name"];
  if (typeof name !== "string") {
    add(isObject(value) && Object.hasOwn(value, "name") ? [...segs, "name"] : segs, `a tool needs a name (letters, digits and _), got ${describeValue(name)}`);
    return undefined;
  }
  const problem = nameProblem(name, "tool name");
  if (problem) add([...segs, "name"], problem);
  const description = value["description"];
  if (description !== undefined && (typeof description !== "string" || description.length > LIMITS.maxDescLength)) {
    add([...segs, "description"], `description must be a string of at most ${LIMITS.maxDescLength} characters`);
  }
  const tool: RawTool = { name, segs, ...(typeof description === "string" ? { description } : {}) };
  if (isProgram) {
    const program = parseProgramRef(value, segs, add);
    if (program) tool.program = program;
    return tool;
  }
  if (typeof description !== "string" || description === "") add(segs, "an HTTP tool needs a description (the agent reads it to choose the tool)");
  const args = Object.hasOwn(value, "args") ? parseFields(value["args"], [...segs, "args"], "tool argument", add) : new Map();
  if (args) tool.args = args;
  const http = parseHttp(value["http"], [...segs, "http"], args, add);
  if (http) tool.http = http;
  return tool;
}

function parseHttp(value: unknown, segs: Seg[], args: Fields | undefined, add: Add): HttpToolSpec | undefined {
  if (!isObject(value)) {
    add(segs, `http must be an object { method, url, body?, headers?, response? }, got ${describeValue(value)}`);
    return undefined;
  }
  const before = count(add);
  for (const key of Object.keys(value)) if (!HTTP_KEYS.includes(key)) add([...segs, key], `unknown key ${quote(key)} in http (expected ${HTTP_KEYS.join(", ")})`);
  const method = value["method"] ?? "GET";
  if (typeof method !== "string" || !METHODS.includes(method)) add([...segs, "method"], `method must be one of ${METHODS.join(", ")}, got ${describeValue(method)}`);
  const url = value["url"];
  if (typeof url !== "string") add([...segs, "url"], `url must be a string, got ${describeValue(url)}`);
  else urlProblems(url, args, [...segs, "url"], add);
  const headers = value["headers"] ?? {};
  if (!isObject(headers)) add([...segs, "headers"], `headers must map header names to values, got ${describeValue(headers)}`);
  else {
    for (const [name, text] of Object.entries(headers)) {
      if (!/^[A-Za-z0-9-]+$/.test(name)) add([...segs, "headers", name], "a header name is letters, digits and -");
      if (typeof text !== "string") add([...segs, "headers", name], `a header value must be a string (write \${ENV_NAME} for a secret), got ${describeValue(text)}`);
      else if (/[\r\n]/.test(text)) add([...segs, "headers", name], "a header value cannot contain a line break");
    }
  }
  const response = value["response"] ?? "";
  if (typeof response !== "string" || !/^([A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*)?$/.test(response)) {
    add([...segs, "response"], `response must be a dotted path into the JSON response ("" for all of it), got ${describeValue(response)}`);
  }
  if (Object.hasOwn(value, "body")) placeholders(JSON.stringify(value["body"]) ?? "", args, [...segs, "body"], add);
  if (count(add) !== before) return undefined;
  return {
    method: method as HttpToolSpec["method"],
    url: url as string,
    headers: headers as Record<string, string>,
    response: response as string,
    ...(Object.hasOwn(value, "body") ? { body: value["body"] } : {}),
  };
}

/** The scheme and host are fixed (egress is checked on them when the program is written); placeholders only after. */
function urlProblems(url: string, args: Fields | undefined, segs: Seg[], add: Add): void {
  const match = /^(https?):\/\/([^/?#{}]+)([/?#].*)?$/.exec(url);
  if (!match) {
    add(segs, `url must start with http:// or https:// and a fixed host (placeholders only in the path and query), got ${quote(url)}`);
    return;
  }
  placeholders(match[3] ?? "", args, segs, add);
  if (secretNames(url).length > 0) add(segs, "a secret (${...}) can only be used in a header, never in the URL");
}

function placeholders(text: string, args: Fields | undefined, segs: Seg[], add: Add): void {
  for (const [, name] of text.matchAll(PLACEHOLDER)) {
    if (args && !args.has(name!)) add(segs, `{${name}} is not an argument of the tool (args: ${[...args.keys()].join(", ") || "none"})`);
  }
}

/** Issues recorded so far, to tell whether a part added any. */
const count = (add: Add): number => add.count();
