import { quote } from "./format.js";

/*
 * Field names DSPy itself cannot take (the worker, bridge-py/dspy_bridge/definition/dspy_names.py,
 * applies the same rules with the same reasons). Found by building and running Predict and
 * ChainOfThought with each name on DSPy 3.4.1 / pydantic 2.14:
 * - on either side, names that clash with dspy.Signature's class attributes or with pydantic
 *   BaseModel's `model_*` members fail when the signature is built (other `model_*` names work);
 * - as inputs, names that dspy.Predict pops from its keyword arguments before formatting the prompt
 *   (`config`, `lm`, `demos`, ...) would silently vanish or crash the call;
 * - as module inputs and program inputs, `self` and `instance` clash with the parameters of
 *   dspy.Module.__call__ and of DSPy's callback wrapper, which receive every input as a keyword.
 */
const PYDANTIC_MEMBERS =
  "model_computed_fields model_config model_construct model_copy model_dump model_dump_json model_extra model_fields " +
  "model_fields_set model_json_schema model_parametrized_name model_post_init model_rebuild model_validate " +
  "model_validate_json model_validate_strings";

export const DSPY_RESERVED_FIELD_NAMES: ReadonlySet<string> = new Set(
  `signature instructions fields input_fields output_fields ${PYDANTIC_MEMBERS}`.split(" "),
);
export const DSPY_CALL_PARAMETERS: ReadonlySet<string> = new Set(["self", "instance"]);
export const DSPY_RESERVED_INPUT_NAMES: ReadonlySet<string> = new Set(["config", "lm", "demos", "new_signature", "completions", "prediction"]);

/** Why DSPy cannot take `name` as a field on `side` of a module's signature, or undefined. */
export function dspyFieldNameProblem(name: string, side: "inputs" | "outputs"): string | undefined {
  if (DSPY_RESERVED_FIELD_NAMES.has(name)) return `field name ${quote(name)} is reserved by DSPy (it clashes with dspy.Signature); rename the field`;
  if (side === "inputs" && DSPY_CALL_PARAMETERS.has(name)) {
    return `input field name ${quote(name)} is reserved by DSPy (a parameter of dspy.Module.__call__); rename the field`;
  }
  if (side === "inputs" && DSPY_RESERVED_INPUT_NAMES.has(name)) {
    return `input field name ${quote(name)} is reserved by DSPy (dspy.Predict takes it as an option); rename the field`;
  }
  return undefined;
}

/** Why DSPy cannot take `name` as a program input (a keyword argument of the program's __call__), or undefined. */
export function dspyProgramInputProblem(name: string): string | undefined {
  if (DSPY_CALL_PARAMETERS.has(name)) return `program input name ${quote(name)} is reserved by DSPy (a parameter of dspy.Module.__call__); rename the input`;
  return undefined;
}
