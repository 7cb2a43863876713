"""DSPy's save() format in and out: `export_state` and `import_state` (PROTOCOL.md "State files").

Export is exactly what `module.save("x.json")` writes: `dump_state()` plus `metadata`
(`dependency_versions`), so the file loads with `.load()` in plain Python.

Import takes what plain DSPy's `.load()` takes for this program (predictor_state.py: demos with any
keys, `augmented` and `reasoning` included), and is stricter where `compiled_state` may leave things
out: it must name every predictor of the program and no other (besides `metadata`), each with the two
keys DSPy's `Predict.load_state` always reads, `signature` and `lm`, and `lm` null (the LM is chosen
per execution). Anything else is INVALID_STATE with `{path, reason}` issues rooted at `state`.
"""

from __future__ import annotations

from typing import Any

from .program_schema import check_program
from .errors import BridgeError
from .predictor_state import check_state, issue_collector, load_checked_state, raise_invalid_state
from .registry import _build
from .tracing import to_jsonable

# What Predict.load_state reads without a default: a file without them does not load in plain DSPy.
REQUIRED_PREDICTOR_KEYS = ("signature", "lm")


def import_state(program: Any, state: Any) -> dict[str, Any]:
    """A save() JSON checked against a normalized program → `{compiled_state, predictors, dependency_versions}`."""
    module = _build(check_program(program))
    predictors = [name for name, _ in module.named_predictors()]
    issues, issue = issue_collector("state")

    if not isinstance(state, dict):
        issue([], "must be the JSON object DSPy's save() writes")
        raise_invalid_state(issues)
    versions: Any = None
    if "metadata" in state:
        metadata = state["metadata"]
        if not isinstance(metadata, dict) or not isinstance(metadata.get("dependency_versions", {}), dict):
            issue(["metadata"], "must be an object with dependency_versions")
        else:
            versions = metadata.get("dependency_versions")
    saved = {name: value for name, value in state.items() if name != "metadata"}
    prepared = check_state(module, saved, issue)
    for name in predictors:
        if name not in saved:
            issue([name], "the program's predictor is missing")
            continue
        value = saved[name]
        if not isinstance(value, dict):
            continue  # check_state said so
        for key in REQUIRED_PREDICTOR_KEYS:
            if key not in value:
                issue([name, key], "is missing")
        if value.get("lm") is not None:
            issue([name, "lm"], "must be null: the LM is chosen per execution, never stored with a version")
    if not issues:
        load_checked_state(module, prepared, issue)  # and DSPy itself must take it
    if issues:
        raise_invalid_state(issues)
    return {"compiled_state": to_jsonable(module.dump_state()), "predictors": predictors, "dependency_versions": to_jsonable(versions)}
