"""The forward steps of a definition (port of forward.ts).

Checks the steps in order; every reference must resolve to something an earlier step defined.
A binding is a reference ("$input.x", "$step.field") or a literal ("$$..." is a literal starting with "$").
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from ._js import Seg, describe_value, format_list, is_object, js_keys, quote
from .declarations import Add, Fields, ModuleInfo
from .field_types import collect_value_issues, format_field_type, infer_literal_type, types_equal
from .limits import MAX_FIELDS_PER_SIGNATURE, MAX_STEPS
from .names import name_problem

CALL_KEYS = ("call", "with", "as")
REFERENCE = re.compile(r"\$([A-Za-z][A-Za-z0-9_]*)\.([A-Za-z][A-Za-z0-9_]*)")


@dataclass
class _Scope:
    inputs: Fields | None
    modules: dict[str, ModuleInfo] | None
    # The first step index that declares each `as` name, to tell "defined later" from "not defined".
    as_index: dict[str, int]
    # Steps before the current one, by `as` name: {"module_name"?, "module"?}.
    defined: dict[str, dict[str, Any]] = field(default_factory=dict)
    index: int = 0


@dataclass
class _Parsed:
    binding: dict[str, Any]
    type: Any = None


def parse_forward(value: Any, inputs: Fields | None, modules: dict[str, ModuleInfo] | None, add: Add) -> dict[str, Any] | None:
    """Returns {"steps", "outputs"} or None when the steps could not be understood."""
    if not isinstance(value, list):
        add(["forward"], f"forward must be an array of steps, got {describe_value(value)}")
        return None
    if len(value) == 0:
        add(["forward"], "forward is empty: it needs at least a return step")
        return None
    if len(value) > MAX_STEPS:
        add(["forward"], f"forward has {len(value)} steps; the limit is {MAX_STEPS}")

    as_index: dict[str, int] = {}
    for i, step in enumerate(value):
        if is_object(step) and isinstance(step.get("as"), str) and step["as"] not in as_index:
            as_index[step["as"]] = i
    scope = _Scope(inputs, modules, as_index)
    steps: list[dict[str, Any]] = []
    returns: list[int] = []
    outputs: dict[str, Any] | None = None
    for i, step in enumerate(value):
        scope.index = i
        segs: list[Seg] = ["forward", i]
        if not is_object(step):
            add(segs, f'step must be an object ({{ "call", "with", "as" }} or {{ "return" }}), got {describe_value(step)}')
            continue
        is_call = "call" in step
        is_return = "return" in step
        if is_call and is_return:
            add(segs, "a step has either 'call' (with 'with' and 'as') or 'return', not both")
        elif is_return:
            returns.append(i)
            parsed = _parse_return_step(step, segs, scope, add)
            if parsed is not None:
                steps.append({"return": parsed[0]})
                outputs = parsed[1]
        elif is_call:
            call = _parse_call_step(step, segs, scope, add)
            if call is not None:
                steps.append(call)
        else:
            add(segs, f"step must have 'call' (with 'with' and 'as') or 'return'; it has {format_list(quote(k) for k in js_keys(step))}")

    last = len(value) - 1
    if not returns:
        add(["forward"], 'return missing: the last step must be { "return": { ... } }')
    for i in returns:
        if i == last:
            continue
        if len(returns) > 1:
            at = ", ".join(f"forward[{r}]" for r in returns)
            add(["forward", i], f"more than one return step (at {at}); a program has exactly one, as its last step")
        else:
            add(["forward", i], f"return must be the last step, but {last - i} step(s) follow it")
    return {"steps": steps, "outputs": outputs} if outputs is not None else None


def _parse_call_step(step: dict[str, Any], segs: list[Seg], scope: _Scope, add: Add) -> dict[str, Any] | None:
    for key in js_keys(step):
        if key not in CALL_KEYS:
            add([*segs, key], f"unknown key {quote(key)} in call step (expected call, with, as)")
    for key in CALL_KEYS:
        if key not in step:
            add(segs, f"missing required key '{key}' in call step")

    module_name: str | None = None
    call = step.get("call")
    if not isinstance(call, str):
        add([*segs, "call"], f"call must be a module name, got {describe_value(call)}")
    elif scope.modules is not None and call not in scope.modules:
        add([*segs, "call"], f"no module named {quote(call)} (modules: {format_list(scope.modules)})")
    else:
        module_name = call
    module = scope.modules.get(module_name) if module_name is not None and scope.modules is not None else None

    bindings = _parse_with(step["with"], [*segs, "with"], module_name, module, scope, add) if "with" in step else None

    as_name: str | None = None
    if "as" in step:
        as_value = step["as"]
        if not isinstance(as_value, str):
            add([*segs, "as"], f"as must be a step name, got {describe_value(as_value)}")
        else:
            problem = name_problem(as_value, "step name", "step")
            if problem:
                add([*segs, "as"], problem)
            first = scope.as_index.get(as_value)
            if first is not None and first != scope.index:
                add([*segs, "as"], f"step name {quote(as_value)} is already used by forward[{first}]")
            else:
                # Defined after its own bindings, so a step cannot reference itself.
                source: dict[str, Any] = {}
                if module_name is not None:
                    source["module_name"] = module_name
                if module is not None:
                    source["module"] = module
                scope.defined[as_value] = source
                as_name = as_value
    if module_name is None or bindings is None or as_name is None:
        return None
    return {"call": module_name, "with": bindings, "as": as_name}


def _parse_with(
    value: Any, segs: list[Seg], module_name: str | None, module: ModuleInfo | None, scope: _Scope, add: Add
) -> dict[str, Any] | None:
    if not is_object(value):
        add(segs, f"with must be an object mapping the module's inputs to bindings, got {describe_value(value)}")
        return None
    inputs = module.get("inputs") if module is not None else None
    bindings: dict[str, Any] = {}
    for key in js_keys(value):
        target = inputs.get(key) if inputs is not None else None
        if inputs is not None and key not in inputs:
            add([*segs, key], f"module {quote(module_name or '')} has no input {quote(key)} (inputs: {format_list(inputs)})")
        expected = {"type": target["type"], "label": f"{module_name}.{key}"} if target is not None else None
        parsed = _parse_binding(value[key], [*segs, key], expected, scope, add)
        if parsed is not None:
            bindings[key] = parsed.binding
    for name in inputs or {}:
        if name not in value:
            add(segs, f"required input {quote(name)} of module {quote(module_name or '')} is not bound")
    return bindings


def _parse_return_step(
    step: dict[str, Any], segs: list[Seg], scope: _Scope, add: Add
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    for key in js_keys(step):
        if key != "return":
            add([*segs, key], f"unknown key {quote(key)} in return step (a return step has only 'return')")
    value = step["return"]
    rsegs: list[Seg] = [*segs, "return"]
    if not is_object(value):
        add(rsegs, f"return must be an object mapping output names to bindings, got {describe_value(value)}")
        return None
    keys = js_keys(value)
    if len(keys) == 0:
        add(rsegs, "return must name at least one output")
    if len(keys) > MAX_FIELDS_PER_SIGNATURE:
        add(rsegs, f"{len(keys)} outputs; the limit is {MAX_FIELDS_PER_SIGNATURE}")
    bindings: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for key in keys:
        problem = name_problem(key, "output name")
        if problem:
            add([*rsegs, key], problem)
        parsed = _parse_binding(value[key], [*rsegs, key], "infer", scope, add)
        if parsed is None:
            continue
        bindings[key] = parsed.binding
        if parsed.type is not None:
            outputs[key] = {"type": parsed.type}
    return bindings, outputs


def _parse_binding(value: Any, segs: list[Seg], expected: Any, scope: _Scope, add: Add) -> _Parsed | None:
    """`expected`: {"type", "label"} of the target input, "infer" for return bindings, None when unknown."""
    if isinstance(value, str) and value.startswith("$") and not value.startswith("$$"):
        ref = _resolve_reference(value, segs, scope, add)
        if ref is None:
            return None
        ref_type = ref.get("type")
        if ref_type is not None and isinstance(expected, dict) and not types_equal(ref_type, expected["type"]):
            add(
                segs,
                f"{quote(value)} is {format_field_type(ref_type)} but {expected['label']} "
                f"expects {format_field_type(expected['type'])}",
            )
        return _Parsed({"ref": {"step": ref["step"], "field": ref["field"]}}, ref_type)
    if isinstance(value, str):
        literal = value[1:] if value.startswith("$$") else value
    else:
        literal = copy.deepcopy(value)
    if expected == "infer":
        inferred = infer_literal_type(literal)
        if not inferred.ok:
            add(segs, inferred.reason)
            return None
        return _Parsed({"literal": literal}, inferred.type)
    if isinstance(expected, dict):
        label = expected["label"]
        collect_value_issues(literal, expected["type"], segs, lambda at, reason: add(at, f"literal for {label}: {reason}"))
    return _Parsed({"literal": literal})


def _resolve_reference(text: str, segs: list[Seg], scope: _Scope, add: Add) -> dict[str, Any] | None:
    match = REFERENCE.fullmatch(text)
    if not match:
        add(
            segs,
            f"malformed reference {quote(text)} (expected '$input.<field>' or '$<step>.<field>'; "
            "write '$$' for a literal starting with '$')",
        )
        return None
    step, field_name = match.group(1), match.group(2)
    if step == "input":
        if scope.inputs is None:
            return {"step": step, "field": field_name}
        if field_name not in scope.inputs:
            add(
                segs,
                f"{quote(text)} refers to undeclared program input {quote(field_name)} (inputs: {format_list(scope.inputs)})",
            )
            return None
        return _with_type({"step": step, "field": field_name}, scope.inputs.get(field_name))
    source = scope.defined.get(step)
    if source is None:
        at = scope.as_index.get(step)
        if at is None:
            add(segs, f"{quote(text)}: no step named {quote(step)}")
        elif at > scope.index:
            add(segs, f"{quote(text)} refers to step {quote(step)} which is defined later (forward[{at}])")
        elif at == scope.index:
            add(segs, f"{quote(text)} refers to this step's own result")
        # else: an earlier step with this name that was itself invalid and already reported
        return None
    outputs = _output_fields(source["module"]) if "module" in source else None
    if outputs is None:
        return {"step": step, "field": field_name}
    if field_name not in outputs:
        hint = "; only ChainOfThought adds 'reasoning'" if field_name == "reasoning" else ""
        add(
            segs,
            f"{quote(text)}: module {quote(source.get('module_name') or '')} (step {quote(step)}) has no output "
            f"{quote(field_name)} (outputs: {format_list(outputs)}{hint})",
        )
        return None
    return _with_type({"step": step, "field": field_name}, outputs.get(field_name))


def _with_type(ref: dict[str, Any], spec: dict[str, Any] | None) -> dict[str, Any]:
    return {**ref, "type": spec["type"]} if spec is not None else ref


def _output_fields(module: ModuleInfo) -> Fields | None:
    """A module's outputs as seen by later steps: ChainOfThought prepends 'reasoning' (str), as in DSPy."""
    outputs = module.get("outputs")
    if outputs is None:
        return None
    if module.get("type") == "Predict":
        return outputs
    # Unknown module type (already reported): allow 'reasoning' with an unknown type rather than cascade.
    reasoning = {"type": "str"} if module.get("type") == "ChainOfThought" else None
    return {"reasoning": reasoning, **outputs}
