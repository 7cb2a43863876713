import { DEFINITION_LIMITS } from "./types.js";
import { quote } from "./format.js";

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

// Names become Python identifiers on the worker side (attributes, keyword arguments). The soft
// keywords match, case and type are valid identifiers, so they are allowed.
const PYTHON_KEYWORDS: ReadonlySet<string> = new Set(
  ("False None True and as assert async await break class continue def del elif else except finally for from " +
    "global if import in is lambda nonlocal not or pass raise return try while with yield").split(" "),
);

// Module names and step names become attributes of a dspy.Module subclass; these would shadow its API.
const MODULE_ATTRIBUTES: ReadonlySet<string> = new Set(
  ("acall forward predictors named_predictors parameters named_parameters named_sub_modules dump_state load_state " +
    "save load reset_copy deepcopy callbacks history set_lm get_lm map_named_predictors batch inspect_history").split(" "),
);

/** Why `name` is not acceptable as a `what` ("module name", "step name", …), or undefined. */
export function nameProblem(name: string, what: string, role?: "module" | "step"): string | undefined {
  if (name === "") return `${what} is empty`;
  if (name.length > DEFINITION_LIMITS.maxNameLength) {
    return `${what} ${quote(name)} is ${name.length} characters; the limit is ${DEFINITION_LIMITS.maxNameLength}`;
  }
  if (!NAME.test(name)) return `${what} ${quote(name)} is invalid: use a letter followed by letters, digits or _`;
  if (PYTHON_KEYWORDS.has(name)) return `${what} ${quote(name)} is a Python keyword`;
  if (role !== undefined && MODULE_ATTRIBUTES.has(name)) return `${what} ${quote(name)} would shadow dspy.Module.${name}`;
  if (role === "step" && name === "input") return `${what} 'input' is reserved for $input references`;
  return undefined;
}
