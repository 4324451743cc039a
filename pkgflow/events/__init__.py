"""The event model: types, the Arrow schema, parsing/validation and upcasting (pure)."""

from pkgflow.events.parse import (
    ParsedBatch,
    Rejection,
    derived_event_id,
    parse_block,
    parse_lines,
    parse_records,
)
from pkgflow.events.schema import EVENT_SCHEMA, SAMPLE_SCHEMA
from pkgflow.events.types import CURRENT_SCHEMA_VERSION, EVENT_TYPES, EXITCODE_OUTCOME, OUTCOMES
from pkgflow.events.upcast import upcast

__all__ = [
    "CURRENT_SCHEMA_VERSION",
    "EVENT_SCHEMA",
    "EVENT_TYPES",
    "EXITCODE_OUTCOME",
    "OUTCOMES",
    "SAMPLE_SCHEMA",
    "ParsedBatch",
    "Rejection",
    "derived_event_id",
    "parse_block",
    "parse_lines",
    "parse_records",
    "upcast",
]
