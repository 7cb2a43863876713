"""The codec's fast path (orjson) gives what the json module gives, or hands the frame to it."""

from __future__ import annotations

import json
import math

import pytest

from dspy_bridge import protocol
from dspy_bridge.errors import BridgeError


def _json_module_decode(frame: bytes):
    return json.loads(frame.decode("utf-8"), parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))


@pytest.mark.parametrize(
    "frame",
    [
        b'{"v":1,"type":"request","id":"r1","command":"ping","payload":{"echo":"x"}}',
        b'{"a":[1,2.5,-0,1e-7,true,false,null,"\\u00e9\\n"],"b":{"c":{}}}',
        b'{"big":36893488147419103000}',  # beyond 64 bits: an exact int, as json reads it
        b'{"neg":-9223372036854775809,"u64":18446744073709551615}',
        b'{"digits":"12345678901234567890123"}',
        b'{"lone":"\\ud800"}',  # a lone surrogate: orjson refuses it, json keeps it
        b'{"huge":1e400}',  # inf for json; orjson refuses it
        b'{"a":1,"a":2}',
        ("{\"emoji\":\"\U0001F600\"}").encode("utf-8"),
    ],
)
def test_decode_matches_the_json_module(frame):
    got, want = protocol.decode(frame), _json_module_decode(frame)
    assert got == want or (math.isinf(got["huge"]) and math.isinf(want["huge"]))
    assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)


@pytest.mark.parametrize("frame", [b"{nope", b"\xff\xfe", b'{"v": NaN}', b'{"v": -Infinity}', b"\xef\xbb\xbf{}", b"[" * 100_000, b"[1]", b'"s"'])
def test_decode_refuses_what_it_always_refused(frame):
    with pytest.raises(BridgeError) as bad:
        protocol.decode(frame)
    assert bad.value.code == "BAD_MESSAGE"


@pytest.mark.parametrize(
    "message",
    [
        {"v": 1, "type": "reply", "id": "r1", "ok": True, "result": {"pong": True, "echo": "é" * 3}, "elapsed_ms": 0.012},
        {"nan": float("nan"), "inf": float("-inf")},  # null, as JSON.stringify writes them
        {"lone": "\ud800x"},
        {1: "int key", None: "none key", 2.5: "float key", True: "bool key"},
        {"big": 2**70, "neg": -(2**70)},
        {"deep": json.loads("[" * 300 + "]" * 300)},
        {"tuple": (1, 2), "obj": object.__new__(type("Thing", (), {"__repr__": lambda self: "<thing>"}))},
    ],
)
def test_dumps_writes_what_the_json_module_wrote(message):
    frame = protocol.dumps(message)
    expected = json.loads(json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=repr).replace("NaN", "null").replace("-Infinity", "null"))
    assert json.loads(frame.decode("utf-8")) == expected
