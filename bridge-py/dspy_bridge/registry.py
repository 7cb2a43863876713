"""What a worker holds: programs keyed by (version_id, hash), LMs keyed by lm_key.

Thread-safe. Both maps are bounded (least recently used goes first): the pool rehydrates a worker
that forgot something through UNKNOWN_PROGRAM / UNKNOWN_LM. State changes are copy-on-write: a new
module is built and swapped in, so a run in progress keeps the module it started with.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, NoReturn

from .definition import validate_definition
from .definition._js import format_path
from .errors import BridgeError
from .lm import LMEntry, build_lm
from .program_builder import DefinedProgram, ProgramBuilder
from .tracing import to_jsonable

PREDICTOR_STATE_KEYS = ("demos", "traces", "train", "signature", "lm", "fields")


@dataclass
class ProgramEntry:
    version_id: str
    hash: str
    program: dict[str, Any]  # the normalized definition
    module: DefinedProgram

    @property
    def predictors(self) -> list[str]:
        return [name for name, _ in self.module.named_predictors()]


class Registry:
    def __init__(self, max_programs: int = 256, max_lms: int = 64) -> None:
        self._lock = threading.Lock()
        self._programs: OrderedDict[tuple[str, str], ProgramEntry] = OrderedDict()
        self._lms: OrderedDict[str, LMEntry] = OrderedDict()
        self.max_programs = max_programs
        self.max_lms = max_lms

    # --- LMs -------------------------------------------------------------------------------------

    def configure_lm(self, lm_key: str, config: Any) -> LMEntry:
        entry = build_lm(config)
        with self._lock:
            self._lms[lm_key] = entry
            self._lms.move_to_end(lm_key)
            while len(self._lms) > self.max_lms:
                self._lms.popitem(last=False)
        return entry

    def lm(self, lm_key: str) -> LMEntry:
        with self._lock:
            entry = self._lms.get(lm_key)
            if entry is not None:
                self._lms.move_to_end(lm_key)
        if entry is None:
            raise BridgeError("UNKNOWN_LM", "protocol", f"this worker holds no LM '{lm_key}'", True, {"lm_key": lm_key})
        return entry

    # --- programs --------------------------------------------------------------------------------

    def define_program(self, version_id: str, hash_: str, definition: Any, compiled_state: Any = None) -> ProgramEntry:
        result = validate_definition(definition)
        if not result.ok:
            first = result.issues[0]
            raise BridgeError(
                "INVALID_DEFINITION",
                "validation",
                f"{first['path']}: {first['reason']}",
                False,
                {"issues": result.issues},
            )
        assert result.program is not None
        module = _build(result.program)
        if compiled_state is not None:
            _apply_state(module, compiled_state, "compiled_state")
        entry = ProgramEntry(version_id, hash_, result.program, module)
        with self._lock:
            key = (version_id, hash_)
            self._programs[key] = entry
            self._programs.move_to_end(key)
            while len(self._programs) > self.max_programs:
                self._programs.popitem(last=False)
        return entry

    def program(self, version_id: str, hash_: str) -> ProgramEntry:
        key = (version_id, hash_)
        with self._lock:
            entry = self._programs.get(key)
            if entry is not None:
                self._programs.move_to_end(key)
        if entry is None:
            raise BridgeError(
                "UNKNOWN_PROGRAM",
                "protocol",
                f"this worker holds no program version '{version_id}' with hash '{hash_}'",
                True,
                {"version_id": version_id, "hash": hash_},
            )
        return entry

    def dump_state(self, version_id: str, hash_: str) -> dict[str, Any]:
        return to_jsonable(self.program(version_id, hash_).module.dump_state())

    def load_state(self, version_id: str, hash_: str, state: Any) -> ProgramEntry:
        current = self.program(version_id, hash_)
        module = _build(current.program)
        _apply_state(module, state, "state")
        updated = ProgramEntry(version_id, hash_, current.program, module)
        with self._lock:
            self._programs[(version_id, hash_)] = updated
        return updated


def _build(program: dict[str, Any]) -> DefinedProgram:
    try:
        return ProgramBuilder.build(program)
    except Exception as exc:  # a definition both validators accepted but DSPy would not build
        raise BridgeError(
            "INVALID_DEFINITION",
            "validation",
            f"definition: DSPy could not build the program: {type(exc).__name__}: {exc}",
            False,
            {"issues": [{"path": "definition", "reason": f"DSPy could not build the program: {exc}"}]},
        ) from None


def _apply_state(module: DefinedProgram, state: Any, root: str) -> None:
    """module.load_state(state) after checking that the state fits this program (INVALID_STATE otherwise)."""
    issues: list[dict[str, str]] = []

    def issue(segs: list[str | int], reason: str) -> None:
        issues.append({"path": format_path(root, segs), "reason": reason})

    predictors = dict(module.named_predictors())
    if not isinstance(state, dict):
        issue([], "must be an object mapping predictor names to their state")
        _raise_invalid_state(issues)
    prepared: dict[str, Any] = {}
    for name, value in state.items():
        if name not in predictors:
            issue([name], f"no predictor named '{name}' (predictors: {', '.join(predictors) or 'none'})")
            continue
        if not isinstance(value, dict):
            issue([name], "a predictor's state must be an object")
            continue
        current = predictors[name].dump_state()
        merged = {**current, **copy.deepcopy(value)}
        for key in value:
            if key not in PREDICTOR_STATE_KEYS:
                issue([name, key], f"unknown key '{key}' in a predictor's state (expected {', '.join(PREDICTOR_STATE_KEYS)})")
        for key in ("demos", "traces", "train"):
            if not isinstance(merged.get(key), list):
                issue([name, key], f"{key} must be an array")
        for i, demo in enumerate(merged.get("demos") or []):
            if not isinstance(demo, dict):
                issue([name, "demos", i], "a demo must be an object of field values")
        _check_signature_state(merged.get("signature"), len(current["signature"]["fields"]), [name, "signature"], issue)
        # The LM is chosen per request (dspy.context); a predictor-level LM from saved state would override it.
        merged["lm"] = None
        prepared[name] = merged
    for name in predictors:
        if name not in state:  # left out: keeps what the build gave it (DSPy needs every name)
            prepared[name] = predictors[name].dump_state()
    if issues:
        _raise_invalid_state(issues)
    try:
        module.load_state(prepared)
    except Exception as exc:
        issue([], f"DSPy could not load it: {type(exc).__name__}: {exc}")
        _raise_invalid_state(issues)


def _check_signature_state(sig: Any, field_count: int, segs: list[str | int], issue) -> None:
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


def _raise_invalid_state(issues: list[dict[str, str]]) -> NoReturn:
    first = issues[0]
    raise BridgeError("INVALID_STATE", "validation", f"{first['path']}: {first['reason']}", False, {"issues": issues})
