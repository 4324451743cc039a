"""The durable event store: partition layout, atomic appends, compaction, retention."""

from pkgflow.store.store import AppendResult, CompactResult, EventStore

__all__ = ["AppendResult", "CompactResult", "EventStore"]
