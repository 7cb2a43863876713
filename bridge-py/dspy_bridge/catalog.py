"""The table the worker and the server share (catalog.json): module types, optimizers, metric kinds.

The server (src/catalog.ts) validates requests against it and explains problems in sentences; the
worker checks the same options with jsonschema before it hands them to DSPy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

CATALOG: dict[str, Any] = json.loads(Path(__file__).with_name("catalog.json").read_text("utf-8"))
MODULE_TYPES: dict[str, dict[str, Any]] = CATALOG["moduleTypes"]
OPTIMIZERS: dict[str, dict[str, Any]] = CATALOG["optimizers"]
METRIC_KINDS: dict[str, dict[str, Any]] = CATALOG["metricKinds"]
# Bounds of one run, the same for the server's native adapter (src/native/forward.ts).
RUN_LIMITS: dict[str, int] = {key: value for key, value in CATALOG["runLimits"].items() if not key.startswith("$")}

# "stage" is the catalog's own keyword (constructor or compile()); jsonschema ignores unknown keywords.
_OPTION_VALIDATORS = {
    name: Draft202012Validator({"type": "object", "properties": entry["options"], "additionalProperties": False})
    for name, entry in OPTIMIZERS.items()
}


def option_issues(optimizer: str, config: Any, root: str = "config") -> list[dict[str, str]]:
    """`[{path, reason}]` for an optimizer name and its options, checked against the catalog."""
    if optimizer not in OPTIMIZERS:
        return [{"path": "optimizer", "reason": f"must be one of {', '.join(OPTIMIZERS)}"}]
    if not isinstance(config, dict):
        return [{"path": root, "reason": "must be an object"}]
    options = OPTIMIZERS[optimizer]["options"]
    issues = [
        {"path": f"{root}.{key}", "reason": f"{optimizer} takes no '{key}' (it takes {', '.join(sorted(options))})"}
        for key in config
        if key not in options
    ]
    for error in _OPTION_VALIDATORS[optimizer].iter_errors(config):
        if error.validator == "additionalProperties":
            continue  # said above, per key
        path = "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in error.absolute_path)
        issues.append({"path": f"{root}{path}", "reason": error.message})
    return sorted(issues, key=lambda i: i["path"])


def option_stage(optimizer: str, key: str) -> str:
    """Where an option goes: "init" (the optimizer's constructor) or "compile" (its compile())."""
    return OPTIMIZERS[optimizer]["options"][key].get("stage", "init")
