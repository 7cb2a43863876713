"""Names of fields, modules and steps (port of names.ts): they become Python identifiers in the worker."""

from __future__ import annotations

import re

from ._js import quote, utf16_len
from .limits import MAX_NAME_LENGTH

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")

# The soft keywords match, case and type are valid identifiers, so they are allowed.
PYTHON_KEYWORDS = frozenset(
    (
        "False None True and as assert async await break class continue def del elif else except finally for from "
        "global if import in is lambda nonlocal not or pass raise return try while with yield"
    ).split()
)

# Module names and step names become attributes of a dspy.Module subclass; these would shadow its API.
MODULE_ATTRIBUTES = frozenset(
    (
        "acall forward predictors named_predictors parameters named_parameters named_sub_modules dump_state load_state "
        "save load reset_copy deepcopy callbacks history set_lm get_lm map_named_predictors batch inspect_history"
    ).split()
)


def name_problem(name: str, what: str, role: str | None = None) -> str | None:
    """Why `name` is not acceptable as a `what` ("module name", "step name", …), or None."""
    if name == "":
        return f"{what} is empty"
    length = utf16_len(name)
    if length > MAX_NAME_LENGTH:
        return f"{what} {quote(name)} is {length} characters; the limit is {MAX_NAME_LENGTH}"
    if not _NAME.fullmatch(name):
        return f"{what} {quote(name)} is invalid: use a letter followed by letters, digits or _"
    if name in PYTHON_KEYWORDS:
        return f"{what} {quote(name)} is a Python keyword"
    if role is not None and name in MODULE_ATTRIBUTES:
        return f"{what} {quote(name)} would shadow dspy.Module.{name}"
    if role == "step" and name == "input":
        return f"{what} 'input' is reserved for $input references"
    return None
