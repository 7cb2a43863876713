"""OpenTelemetry spans of the worker (PROTOCOL.md "Trace context", README "Traces").

Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (the pool sets it on local workers when the server
traces): then the SDK is never imported and a run pays one `None` check. On, a `run` is a span that
continues the request's `traceparent`, with one child span per module step of the program and, under
it, one per LM call carrying the OpenTelemetry GenAI attributes (`gen_ai.*`). Spans are batched and
exported over OTLP/HTTP (protobuf) to `<endpoint>/v1/traces`.

Nothing global of OpenTelemetry is set: the worker's provider is its own, so a library that also
uses the API cannot redirect or double-export these spans.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Sequence
from urllib.parse import urlsplit

from dspy.utils.callback import BaseCallback

from . import egress

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

    from .tracing import RunTracer

log = logging.getLogger("dspy_bridge.otel")

SERVICE_NAME = "dspy-subgraph-worker"
# Spans go out at most this long after they end (the SDK's default is 5 s).
EXPORT_DELAY_MS = 1000

_provider: TracerProvider | None = None
_tracer: Tracer | None = None


def configure(endpoint: str | None, worker_id: str) -> bool:
    """Starts exporting to `endpoint` (an OTLP/HTTP base URL); False (and nothing imported) without one."""
    global _provider, _tracer
    if not endpoint:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    url = endpoint.rstrip("/") + "/v1/traces"
    host = urlsplit(url).hostname or ""

    class EgressExemptExporter(SpanExporter):
        """The collector is the operator's, not an LM's: its address passes the egress policy, on the
        exporter's calls only (egress.allowing)."""

        def __init__(self, inner: SpanExporter) -> None:
            self._inner = inner

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            with egress.allowing(host):
                return self._inner.export(spans)

        def shutdown(self) -> None:
            self._inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            with egress.allowing(host):
                return self._inner.force_flush(timeout_millis)

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME, "service.instance.id": worker_id})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(EgressExemptExporter(OTLPSpanExporter(endpoint=url)), schedule_delay_millis=EXPORT_DELAY_MS))
    _provider, _tracer = provider, provider.get_tracer("dspy_bridge")
    log.info("exporting traces to %s", url)
    return True


def enabled() -> bool:
    return _tracer is not None


def shutdown() -> None:
    """Exports what is buffered (the worker's exit)."""
    global _provider, _tracer
    provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()


@contextmanager
def run_span(traceparent: str | None, attributes: dict[str, Any]) -> Iterator[Span | None]:
    """The span of one `run`, a child of `traceparent` (a new trace without one); None when off."""
    tracer = _tracer
    if tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    parent = TraceContextTextMapPropagator().extract({"traceparent": traceparent}) if traceparent else None
    # Active (attached to this thread's context) so that step and LM spans, and map's copied contexts, nest under it.
    with tracer.start_as_current_span("dspy.run", context=parent, kind=SpanKind.SERVER, attributes=attributes, record_exception=False, set_status_on_exception=False) as span:
        yield span


def fail(span: Span | None, code: str, message: str) -> None:
    """Marks a run span failed with the error's code (`error.type`)."""
    if span is None:
        return
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("error.type", code)
    span.set_status(Status(StatusCode.ERROR, message[:500]))


def callback(tracer: RunTracer) -> BaseCallback | None:
    """Step and LM-call spans for one run (None when off). Installed before `tracer` in the run's
    callbacks, so its LM end reads the call's usage while `tracer` still holds the call open."""
    return _RunSpans(_tracer, tracer) if _tracer is not None else None


def _provider_of(model: str) -> str:
    """litellm's provider prefix (`openai/gpt-4o-mini` → openai); DSPy's DummyLM is `dummy`."""
    if "/" in model:
        return model.split("/", 1)[0]
    return "dummy" if model == "dummy" else "_OTHER"


class _RunSpans(BaseCallback):
    """DSPy callbacks → spans. A span is made current for the duration of its call (DSPy calls start
    and end on one thread, in one context), so nested calls and LM calls become its children."""

    def __init__(self, otel_tracer: Tracer, run_tracer: RunTracer) -> None:
        self._otel = otel_tracer
        self._run = run_tracer
        self._open: dict[str, tuple[Span, object]] = {}

    def _start(self, call_id: str, name: str, kind: Any, attributes: dict[str, Any]) -> None:
        from opentelemetry import context, trace

        span = self._otel.start_span(name, kind=kind, attributes=attributes)
        self._open[call_id] = (span, context.attach(trace.set_span_in_context(span)))

    def _end(self, call_id: str, exception: BaseException | None, attributes: dict[str, Any] | None = None) -> None:
        from opentelemetry import context
        from opentelemetry.trace import Status, StatusCode

        opened = self._open.pop(call_id, None)
        if opened is None:
            return
        span, token = opened
        try:
            context.detach(token)  # type: ignore[arg-type]
        except Exception:
            pass  # ended in another context than it started (DSPy never does): the span still ends
        if attributes:
            span.set_attributes(attributes)
        if exception is not None:
            span.set_attribute("error.type", type(exception).__name__)
            span.set_status(Status(StatusCode.ERROR, str(exception)[:500]))
        span.end()

    def on_module_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        from opentelemetry.trace import SpanKind

        from .run_context import CURRENT_STEP

        known = self._run.module_of(instance)
        if known is None:  # a module inside one of the program's (ChainOfThought's Predict): not a step
            return
        name, module_type = known
        step = CURRENT_STEP.get() or name
        self._start(call_id, f"dspy.module {step}", SpanKind.INTERNAL, {"dspy.step": step, "dspy.module.name": name, "dspy.module.type": module_type})

    def on_module_end(self, call_id: str, outputs: Any, exception: BaseException | None = None) -> None:
        self._end(call_id, exception)

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        from opentelemetry.trace import SpanKind

        model = str(getattr(instance, "model", type(instance).__name__))
        operation = "text_completion" if getattr(instance, "model_type", "chat") == "text" else "chat"
        provider = _provider_of(model)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.system": provider,
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
        }
        kwargs = getattr(instance, "kwargs", None) or {}
        for key, attribute in (("temperature", "gen_ai.request.temperature"), ("max_tokens", "gen_ai.request.max_tokens")):
            value = kwargs.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                attributes[attribute] = value
        self._start(call_id, f"{operation} {model}", SpanKind.CLIENT, attributes)

    def on_lm_end(self, call_id: str, outputs: Any, exception: BaseException | None = None) -> None:
        call = self._run.open_lm_call(call_id)
        usage = call["usage"] if call is not None else {}
        self._end(
            call_id,
            exception,
            {
                "gen_ai.usage.input_tokens": int(usage.get("prompt_tokens", 0)),
                "gen_ai.usage.output_tokens": int(usage.get("completion_tokens", 0)),
            },
        )
