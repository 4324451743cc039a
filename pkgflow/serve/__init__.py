"""Live ingestion: the HTTP service (``pkgflow serve``) and the AMQP consumer
(``pkgflow consume``), both durable through a per-process write-ahead log."""

from pkgflow.serve.pipeline import BatchOutcome, Ingestor, OverloadedError
from pkgflow.serve.wal import WriteAheadLog

__all__ = ["BatchOutcome", "Ingestor", "OverloadedError", "WriteAheadLog"]
