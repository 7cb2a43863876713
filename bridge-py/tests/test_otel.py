"""The worker's OpenTelemetry spans (dspy_bridge/otel.py): a run continues the request's traceparent,
with a span per module step and per LM call (GenAI attributes), exported over OTLP/HTTP past the
egress policy that refuses the same address to LMs."""

from __future__ import annotations

import socket
from http.server import BaseHTTPRequestHandler
from typing import Any, Iterator

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from conftest import QA_INPUTS, define, serving
from dspy_bridge import egress, otel
from dspy_bridge.protocol import decode, parse_request
from dspy_bridge.runner import run_program

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An OTLP/HTTP receiver on 127.0.0.1: every span it gets, decoded, with its resource's attributes."""
    spans: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        attributes = {a.key: getattr(a.value, a.value.WhichOneof("value")) for a in span.attributes}
                        spans.append(
                            {
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent": span.parent_span_id.hex(),
                                "name": span.name,
                                "attributes": attributes,
                                "resource": resource,
                                "status": span.status.code,
                            }
                        )
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as url:
        try:
            yield url, spans
        finally:
            otel.shutdown()


def test_a_request_carries_its_traceparent_and_a_malformed_one_is_ignored() -> None:
    message = decode(b'{"v":1,"type":"request","id":"r1","command":"run","traceparent":"' + TRACEPARENT.encode() + b'","payload":{}}')
    assert parse_request(message, "r1").traceparent == TRACEPARENT
    for bad in ('"nope"', "17", '"00-XYZ-00f067aa0ba902b7-01"'):
        message = decode(b'{"v":1,"type":"request","id":"r1","command":"run","traceparent":' + bad.encode() + b',"payload":{}}')
        assert parse_request(message, "r1").traceparent is None
    assert parse_request(decode(b'{"v":1,"type":"request","id":"r1","command":"ping"}'), "r1").traceparent is None


def test_tracing_is_off_without_an_endpoint(registry, qa_definition) -> None:
    assert otel.configure(None, "w-test") is False and not otel.enabled()
    entry = define(registry, "v-off", "h", qa_definition)
    registry.configure_lm("dummy:off", {"model": "dummy", "answers": [{"reasoning": "r", "answer": "Paris"}]})
    assert run_program(entry, registry.lm("dummy:off"), QA_INPUTS, traceparent=TRACEPARENT)["outputs"] == {"answer": "Paris"}


def test_a_run_is_a_span_of_the_callers_trace_with_steps_and_lm_calls(registry, two_step_definition, receiver, monkeypatch) -> None:
    endpoint, spans = receiver
    # The worker's egress policy (as egress.install sets it, undone after the test) refuses loopback to
    # LMs; the collector's exports still get through.
    monkeypatch.setattr(socket, "getaddrinfo", egress.guarded_getaddrinfo)
    egress.configure([])
    with pytest.raises(egress.EgressRefused):
        socket.getaddrinfo("127.0.0.1", 80)
    assert otel.configure(endpoint, "w-test")
    entry = define(registry, "v-otel", "h", two_step_definition)
    registry.configure_lm("dummy:otel", {"model": "dummy", "temperature": 0.5, "answers": [{"reasoning": "Named.", "answer": "Paris"}, {"summary": "Paris."}]})
    result = run_program(entry, registry.lm("dummy:otel"), QA_INPUTS, traceparent=TRACEPARENT, span_attributes={"dspy.program.version_id": "v-otel"})
    assert result["outputs"]
    otel.shutdown()  # flushes

    assert {s["trace_id"] for s in spans} == {TRACE_ID}
    by_name = {s["name"]: s for s in spans}
    run = by_name["dspy.run"]
    assert run["parent"] == PARENT_ID
    assert run["attributes"]["dspy.program.version_id"] == "v-otel"
    assert run["resource"]["service.name"] == "dspy-subgraph-worker" and run["resource"]["service.instance.id"] == "w-test"
    steps = [s for s in spans if s["name"].startswith("dspy.module ")]
    assert [s["attributes"]["dspy.step"] for s in steps] == [e["step"] for e in result["trace"]]
    assert all(s["parent"] == run["span_id"] for s in steps)
    lm_calls = [s for s in spans if s["name"] == "chat dummy"]
    assert len(lm_calls) == 2
    assert {c["parent"] for c in lm_calls} == {s["span_id"] for s in steps}
    for call in lm_calls:
        attributes = call["attributes"]
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.system"] == "dummy" and attributes["gen_ai.request.model"] == "dummy"
        assert attributes["gen_ai.usage.input_tokens"] == 0 and attributes["gen_ai.usage.output_tokens"] == 0  # DummyLM reports none
