"""Sources: JSON Lines files, the HTTP service, AMQP, and importers of real formats."""

from pkgflow.ingest.jsonl import IngestReport, ingest_jsonl

__all__ = ["IngestReport", "ingest_jsonl"]
