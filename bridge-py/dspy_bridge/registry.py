"""What a worker holds: programs keyed by (version_id, hash), LMs keyed by lm_key.

Thread-safe. Both maps are bounded (least recently used goes first): the pool rehydrates a worker
that forgot something through UNKNOWN_PROGRAM / UNKNOWN_LM. State changes are copy-on-write: a new
module is built and swapped in, so a run in progress keeps the module it started with.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .errors import BridgeError
from .lm import LMEntry, build_lm
from .predictor_state import apply_state
from .program_schema import check_program
from .program_builder import DefinedProgram, ProgramBuilder
from .tracing import to_jsonable


@dataclass
class ProgramEntry:
    version_id: str
    hash: str
    program: dict[str, Any]  # the normalized program
    module: DefinedProgram
    inputs_schema: dict[str, Any] | None = None  # what a run's inputs must be (the server's rule, as data)

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
        entry = build_lm(config).held_as(lm_key)
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

    def define_program(self, version_id: str, hash_: str, program: Any, compiled_state: Any = None, inputs_schema: Any = None) -> ProgramEntry:
        module = _build(check_program(program))
        if compiled_state is not None:
            apply_state(module, compiled_state, "compiled_state")
        entry = ProgramEntry(version_id, hash_, program, module, check_inputs_schema(inputs_schema))
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

    def dependencies(self, listed: Any) -> Callable[[str], tuple[DefinedProgram, LMEntry]] | None:
        """The programs a run may call (`[{version_id, hash, lm_key}]`), all resolved now: one this
        worker does not hold is UNKNOWN_PROGRAM / UNKNOWN_LM before the run starts (and is sent again)."""
        if listed is None:
            return None
        if not isinstance(listed, list) or not all(isinstance(d, dict) for d in listed):
            raise BridgeError("BAD_MESSAGE", "protocol", "payload.dependencies must be an array of {version_id, hash, lm_key}", False, {"path": "payload.dependencies"})
        resolved: dict[str, tuple[DefinedProgram, LMEntry]] = {}
        for d in listed:
            if not all(isinstance(d.get(k), str) for k in ("version_id", "hash", "lm_key")):
                raise BridgeError("BAD_MESSAGE", "protocol", "payload.dependencies must be an array of {version_id, hash, lm_key}", False, {"path": "payload.dependencies"})
            resolved[d["version_id"]] = (self.program(d["version_id"], d["hash"]).module, self.lm(d["lm_key"]))

        def programs(version_id: str) -> tuple[DefinedProgram, LMEntry]:
            if version_id not in resolved:
                raise BridgeError("UNKNOWN_PROGRAM", "protocol", f"program version '{version_id}' was not sent with this run", False, {"version_id": version_id})
            return resolved[version_id]

        return programs

    def dump_state(self, version_id: str, hash_: str) -> dict[str, Any]:
        return to_jsonable(self.program(version_id, hash_).module.dump_state())

    def load_state(self, version_id: str, hash_: str, state: Any) -> ProgramEntry:
        current = self.program(version_id, hash_)
        module = _build(current.program)
        apply_state(module, state, "state")
        updated = ProgramEntry(version_id, hash_, current.program, module, current.inputs_schema)
        with self._lock:
            self._programs[(version_id, hash_)] = updated
        return updated


def check_inputs_schema(schema: Any) -> dict[str, Any] | None:
    if schema is None:
        return None
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise BridgeError("BAD_MESSAGE", "protocol", f"payload.inputs_schema: not a JSON Schema: {exc.message}", False, {"path": "payload.inputs_schema"}) from None
    return schema


def _build(program: dict[str, Any]) -> DefinedProgram:
    try:
        return ProgramBuilder.build(program)
    except BridgeError:
        raise
    except Exception as exc:  # a program the server accepted but DSPy would not build
        raise BridgeError(
            "INVALID_DEFINITION",
            "validation",
            f"definition: DSPy could not build the program: {type(exc).__name__}: {exc}",
            False,
            {"issues": [{"path": "definition", "reason": f"DSPy could not build the program: {exc}"}]},
        ) from None
