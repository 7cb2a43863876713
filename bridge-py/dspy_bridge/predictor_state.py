"""A program's predictor state as DSPy's `Predict.dump_state()` writes it and `load_state()` reads it:
the one check behind `compiled_state`, `load_state` and `import_state` (PROTOCOL.md "State").

It takes what DSPy's own `load_state` takes for the program's named predictors: demos are objects
with any keys (LabeledFewShot keeps whole examples, labels the signature does not use included;
bootstrapped demos add `augmented` and ChainOfThought's `reasoning`), `traces` and `train` are
arrays, `fields` is DSPy's per-output settings object. It refuses what is not state of this program:
predictor names it does not have, keys a Predict has not (DSPy would set them as attributes), wrong
types, and a `signature` whose field list does not match the predictor's.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, NoReturn

import dspy

from .program_schema import format_path
from .errors import BridgeError

PREDICTOR_STATE_KEYS = ("traces", "train", "demos", "signature", "lm", "fields")

Issue = Callable[[list[str | int], str], None]


def issue_collector(root: str) -> tuple[list[dict[str, str]], Issue]:
    """A list of `{path, reason}` issues rooted at `root`, and the function that adds one."""
    issues: list[dict[str, str]] = []

    def issue(segs: list[str | int], reason: str) -> None:
        issues.append({"path": format_path(root, segs), "reason": reason})

    return issues, issue


def check_state(module: dspy.Module, state: Any, issue: Issue) -> dict[str, Any]:
    """Every named predictor's state as `load_state` takes it: what `state` gives, over what the build
    gave (so predictors or keys left out keep theirs), `lm` always None (the LM is chosen per request)."""
    predictors = dict(module.named_predictors())
    if not isinstance(state, dict):
        issue([], "must be an object mapping predictor names to their state")
        return {}
    prepared: dict[str, Any] = {}
    for name, value in state.items():
        if name not in predictors:
            issue([name], f"no predictor named '{name}' (predictors: {', '.join(predictors) or 'none'})")
            continue
        if not isinstance(value, dict):
            issue([name], "a predictor's state must be an object")
            continue
        for key in value:
            if key not in PREDICTOR_STATE_KEYS:
                issue([name, key], f"unknown key '{key}' in a predictor's state (expected {', '.join(PREDICTOR_STATE_KEYS)})")
        current = predictors[name].dump_state()
        merged = {**current, **copy.deepcopy(value)}
        for key in ("demos", "traces", "train"):
            if not isinstance(merged.get(key), list):
                issue([name, key], f"{key} must be an array")
        for i, demo in enumerate(merged["demos"] if isinstance(merged.get("demos"), list) else []):
            if not isinstance(demo, dict):
                issue([name, "demos", i], "a demo must be an object of field values")
        if "fields" in merged and not isinstance(merged["fields"], dict):
            issue([name, "fields"], "fields must be an object (DSPy's settings per output field)")
        _check_signature(merged.get("signature"), len(current["signature"]["fields"]), [name, "signature"], issue)
        merged["lm"] = None
        prepared[name] = merged
    for name, predictor in predictors.items():
        if name not in state:
            prepared[name] = predictor.dump_state()
    return prepared


def load_checked_state(module: dspy.Module, prepared: dict[str, Any], issue: Issue) -> None:
    """DSPy's own `load_state` on what `check_state` prepared; what it still refuses is an issue at the root."""
    try:
        module.load_state(prepared)
    except Exception as exc:
        issue([], f"DSPy could not load it: {type(exc).__name__}: {exc}")


def apply_state(module: dspy.Module, state: Any, root: str) -> None:
    """`module.load_state(state)` after checking that the state fits this program (INVALID_STATE otherwise)."""
    issues, issue = issue_collector(root)
    prepared = check_state(module, state, issue)
    if not issues:
        load_checked_state(module, prepared, issue)
    if issues:
        raise_invalid_state(issues)


def raise_invalid_state(issues: list[dict[str, str]]) -> NoReturn:
    first = issues[0]
    raise BridgeError("INVALID_STATE", "validation", f"{first['path']}: {first['reason']}", False, {"issues": issues})


def _check_signature(sig: Any, field_count: int, segs: list[str | int], issue: Issue) -> None:
    """As `Signature.dump_state()` writes it: instructions and one `{prefix, description}` per field, in order."""
    if not isinstance(sig, dict):
        issue(segs, "signature must be an object with instructions and fields")
        return
    if not isinstance(sig.get("instructions"), str):
        issue([*segs, "instructions"], "instructions must be a string")
    fields = sig.get("fields")
    if not isinstance(fields, list):
        issue([*segs, "fields"], "fields must be an array")
        return
    if len(fields) != field_count:
        issue([*segs, "fields"], f"has {len(fields)} fields but the signature has {field_count}")
    for i, f in enumerate(fields):
        if not isinstance(f, dict) or not isinstance(f.get("prefix"), str) or not isinstance(f.get("description"), str):
            issue([*segs, "fields", i], "a field's state must be an object with string prefix and description")
