"""The mapped spans through the OpenTelemetry SDK: sent to an OTLP/HTTP endpoint, or encoded as OTLP JSON lines.

Only this module imports OpenTelemetry, and only when a run exports (the `otel` extra).
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ...version import package_version
from .mapping import SCHEMA_URL, Span

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

EXTRA_MISSING = "needs the OpenTelemetry libraries: pip install 'aitest-bdd[otel]'"
DEFAULT_ENDPOINT = "http://localhost:4318/v1/traces"
ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def installed() -> bool:
    """Whether the `otel` extra's libraries can be imported."""
    try:
        import opentelemetry.exporter.otlp.proto.http.trace_exporter
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        return False
    return True


def endpoint() -> str:
    """Where the OTLP/HTTP exporter sends traces, after the standard `OTEL_EXPORTER_OTLP_*` variables."""
    if traces := os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return traces
    if base := os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return f"{base.rstrip('/')}/v1/traces"
    return DEFAULT_ENDPOINT


EXPORTER_LOGGER = "opentelemetry.exporter.otlp.proto.http"
"""Where the OTLP/HTTP exporter logs why an export failed."""


def send(spans: list[Span]) -> str | None:
    """Export `spans` with the OTLP/HTTP exporter (configured by the `OTEL_EXPORTER_OTLP_*` variables); None when
    the endpoint took them, else why not, as the exporter logged it."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # the optional extra
    from opentelemetry.sdk.trace.export import SpanExportResult

    logged = _LastWarning()
    logger = logging.getLogger(EXPORTER_LOGGER)
    logger.addHandler(logged)
    exporter = OTLPSpanExporter()
    try:
        result = exporter.export(readable_spans(spans))
    finally:
        logger.removeHandler(logged)
        exporter.shutdown()
    return None if result is SpanExportResult.SUCCESS else logged.message or "the exporter gave no reason"


class _LastWarning(logging.Handler):
    """The last warning or error a logger wrote."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.message: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.message = record.getMessage()


def json_lines(traces: Iterable[list[Span]]) -> str:
    """Each trace as one line of OTLP JSON (an `ExportTraceServiceRequest`, ids in hex as OTLP/JSON has them)."""
    from google.protobuf.json_format import MessageToDict  # the optional extra (protobuf comes with it)
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    lines = []
    for spans in traces:
        request = MessageToDict(encode_spans(readable_spans(spans)))
        for resource in request.get("resourceSpans", []):
            for scope in resource.get("scopeSpans", []):
                for span in scope.get("spans", []):
                    _hex_ids(span)
        lines.append(json.dumps(request, separators=(",", ":")))
    return "".join(f"{line}\n" for line in lines)


def _hex_ids(span: dict[str, Any]) -> None:
    for key in ID_FIELDS:
        if key in span:
            span[key] = base64.b64decode(span[key]).hex()


def readable_spans(spans: list[Span]) -> list[ReadableSpan]:
    """The SDK's spans, with the ids the conversation was given, under the run's resource (`OTEL_SERVICE_NAME`
    and `OTEL_RESOURCE_ATTRIBUTES` apply; the service is `aitest-bdd` unless they name one)."""
    from opentelemetry.sdk.resources import Resource  # the optional extra
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

    service = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "aitest-bdd"}
    resource = Resource.create(service)
    scope = InstrumentationScope("aitest_bdd", package_version(), SCHEMA_URL)
    kinds = {"internal": SpanKind.INTERNAL, "client": SpanKind.CLIENT}

    def context(trace_id: str, span_id: str) -> SpanContext:
        return SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=False, trace_flags=TraceFlags(1))

    return [
        ReadableSpan(
            name=span.name,
            context=context(span.trace_id, span.span_id),
            parent=context(span.trace_id, span.parent_id) if span.parent_id else None,
            resource=resource,
            attributes=span.attributes,
            events=[Event(event.name, event.attributes, event.time_ns) for event in span.events],
            kind=kinds[span.kind],
            status=Status(StatusCode.ERROR, span.error or None) if span.error is not None else Status(),
            start_time=span.start_ns,
            end_time=span.end_ns,
            instrumentation_scope=scope,
        )
        for span in spans
    ]
