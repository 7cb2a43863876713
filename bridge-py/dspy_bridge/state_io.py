"""DSPy's save() format in and out: `export_state` and `import_state` (PROTOCOL.md "State files").

Export is exactly what `module.save("x.json")` writes: `dump_state()` plus `metadata`
(`dependency_versions`), so the file loads with `.load()` in plain Python.

Import is strict, stricter than `compiled_state` (which may leave predictors out): the JSON must
name every predictor of the program and no other, each with exactly DSPy's keys, demos whose fields
belong to the predictor's signature (or are the program's inputs/outputs — LabeledFewShot keeps
whole examples — or DSPy's `augmented` flag), and a signature with as many fields as the
predictor's. Anything else is INVALID_STATE with `{path, reason}` issues rooted at `state`.
"""

from __future__ import annotations

import copy
from typing import Any

from .definition import validate_definition
from .definition._js import format_path
from .errors import BridgeError
from .registry import _apply_state, _build, _check_signature_state, _raise_invalid_state
from .tracing import to_jsonable

SAVED_PREDICTOR_KEYS = ("traces", "train", "demos", "signature", "lm")
DEMO_EXTRA_KEYS = ("augmented",)


def import_state(definition: Any, state: Any) -> dict[str, Any]:
    """A save() JSON checked against a definition → `{compiled_state, predictors, dependency_versions}`."""
    result = validate_definition(definition)
    if not result.ok:
        first = result.issues[0]
        raise BridgeError("INVALID_DEFINITION", "validation", f"{first['path']}: {first['reason']}", False, {"issues": result.issues})
    program = result.program
    module = _build(program)
    predictors = dict(module.named_predictors())
    issues: list[dict[str, str]] = []

    def issue(segs: list[str | int], reason: str) -> None:
        issues.append({"path": format_path("state", segs), "reason": reason})

    if not isinstance(state, dict):
        issue([], "must be the JSON object DSPy's save() writes")
        _raise_invalid_state(issues)
    metadata = state.get("metadata")
    versions: Any = None
    if "metadata" in state:
        if not isinstance(metadata, dict) or not isinstance(metadata.get("dependency_versions", {}), dict):
            issue(["metadata"], "must be an object with dependency_versions")
        else:
            versions = metadata.get("dependency_versions")
    for name in state:
        if name != "metadata" and name not in predictors:
            issue([name], f"no predictor named '{name}' (predictors: {', '.join(predictors)})")
    for name, predictor in predictors.items():
        if name not in state:
            issue([name], "the program's predictor is missing")
            continue
        value = state[name]
        if not isinstance(value, dict):
            issue([name], "a predictor's state must be an object")
            continue
        for key in value:
            if key not in SAVED_PREDICTOR_KEYS:
                issue([name, key], f"unknown key '{key}' (expected {', '.join(SAVED_PREDICTOR_KEYS)})")
        for key in SAVED_PREDICTOR_KEYS:
            if key not in value:
                issue([name, key], "is missing")
        if value.get("lm") is not None:
            issue([name, "lm"], "must be null: the LM is chosen per execution, never stored with a version")
        sig_fields = set(predictor.signature.fields)
        allowed = sig_fields | set(program["inputs"]) | set(program["outputs"]) | set(DEMO_EXTRA_KEYS)
        demos = value.get("demos")
        if isinstance(demos, list):
            for i, demo in enumerate(demos):
                if not isinstance(demo, dict):
                    issue([name, "demos", i], "a demo must be an object of field values")
                    continue
                for key in demo:
                    if key not in allowed:
                        issue([name, "demos", i, key], f"'{key}' is not a field of the predictor's signature ({', '.join(predictor.signature.fields)})")
        elif "demos" in value:
            issue([name, "demos"], "demos must be an array")
        for key in ("traces", "train"):
            if key in value and not isinstance(value[key], list):
                issue([name, key], f"{key} must be an array")
        if "signature" in value:
            _check_signature_state(value["signature"], len(predictor.signature.fields), [name, "signature"], issue)
    if issues:
        _raise_invalid_state(issues)
    compiled = {name: copy.deepcopy(state[name]) for name in predictors}
    _apply_state(module, compiled, "state")  # and DSPy itself must take it
    return {"compiled_state": to_jsonable(module.dump_state()), "predictors": list(predictors), "dependency_versions": to_jsonable(versions)}
