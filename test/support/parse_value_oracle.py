"""The Python side of test/nativeParseValue.test.ts: DSPy's own answers for a batch of cases.

Reads one JSON document on stdin ({"parse": [...], "floats": [...], "values": [...], "strings": [...]})
and writes one on stdout with, per case, what DSPy 3.4.1 / Python 3.11 give:
- parse: dspy.adapters.utils.parse_value(value, annotation(type)), as to_jsonable, or the error;
  also json_repair.loads(value) for a string value (to tell where a difference comes from);
- floats: repr(float) of IEEE-754 bit patterns (hex);
- values: json.dumps (plain and indent=2), format_field_value for a str and an int field, repr;
- strings: str.strip(), str.splitlines();
- chars: Python's whitespace, line boundaries and printable runs (as pyText.ts encodes them).
A non-finite float inside "values" arrives as {"$nonfinite": "NaN" | "Infinity" | "-Infinity"}.
"""

import json
import struct
import sys

import json_repair
from dspy.adapters.utils import format_field_value, parse_value
from pydantic.fields import FieldInfo

from dspy_bridge.signatures import annotation
from dspy_bridge.tracing import to_jsonable


def nonfinite(obj):
    if set(obj) == {"$nonfinite"}:
        return float(obj["$nonfinite"])
    return obj


def outcome(fn):
    try:
        return {"ok": True, "value": to_jsonable(fn())}
    except ValueError as e:
        return {"ok": False, "error": f"{type(e).__name__}: {e}"[:300]}
    except Exception as e:  # not a ValueError: DSPy's adapters would not catch it
        return {"crash": f"{type(e).__name__}: {e}"[:300]}


def parse_case(case):
    value, field_type = case["v"], case["t"]
    result = outcome(lambda: parse_value(value, annotation(field_type)))
    if isinstance(value, str):
        result["repair"] = outcome(lambda: json_repair.loads(value))
    return result


def text_case(value):
    str_field, int_field = FieldInfo(annotation=str), FieldInfo(annotation=int)
    return {
        "dumps": outcome(lambda: json.dumps(value, ensure_ascii=False)),
        "dumps2": outcome(lambda: json.dumps(value, indent=2, ensure_ascii=False)),
        "formatStr": outcome(lambda: format_field_value(str_field, value)),
        "formatOther": outcome(lambda: format_field_value(int_field, value)),
        "repr": repr(value),
    }


def b36(n):
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        out = digits[n % 36] + out
        n //= 36
        if n == 0:
            return out


def printable_runs():
    runs, start, pos = [], None, 0
    for cp in range(0x110000 + 1):
        printable = cp < 0x110000 and chr(cp).isprintable()
        if printable and start is None:
            start = cp
        elif not printable and start is not None:
            runs += [start - pos, cp - start]
            start, pos = None, cp
    return " ".join(b36(r) for r in runs)


def main():
    request = json.loads(sys.stdin.read(), object_hook=nonfinite)
    response = {
        "parse": [parse_case(c) for c in request.get("parse", [])],
        "floats": [repr(struct.unpack(">d", bytes.fromhex(h))[0]) for h in request.get("floats", [])],
        "values": [text_case(v) for v in request.get("values", [])],
        "strings": [{"strip": s.strip(), "splitlines": s.splitlines()} for s in request.get("strings", [])],
    }
    if request.get("chars"):
        response["chars"] = {
            "space": [cp for cp in range(0x110000) if chr(cp).isspace()],
            "linebreaks": [cp for cp in range(0x110000) if len(("a" + chr(cp) + "b").splitlines()) == 2],
            "printable": printable_runs(),
        }
    sys.stdout.write(json.dumps(response))


if __name__ == "__main__":
    main()
