"""Collect simulated events as plain tuples and turn a batch into typed Polars frames.

Each event shape appends one tuple to its own list (cheap in the hot loop); ``flush``
builds one column-typed frame per shape, stacks them, restores emission order and
derives the event ids (uuid5 of the run's prefix and the event's emission counter).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence

import polars as pl

from pkgflow.events.parse import EVENT_ID_NAMESPACE, PARSED_COLUMNS, derived_event_id
from pkgflow.events.schema import EVENT_POLARS_SCHEMA, SAMPLE_POLARS_SCHEMA
from pkgflow.events.types import CURRENT_SCHEMA_VERSION

SOURCE = "simulator"

#: Columns of ``SimBatch.samples``: the stored sample columns minus what the store sets.
SAMPLE_COLUMNS = [c for c in SAMPLE_POLARS_SCHEMA if c not in ("seq", "recorded_at")]

# shape name -> fields of its tuples after (counter, time); `event_type` is either a
# field of the tuple or the fixed type given here
_SHAPES: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "accepted": (
        "upload.accepted",
        ("package", "version", "old_version", "component", "maintainer"),
    ),
    "build": (None, ("event_type", "package", "version", "arches")),
    "requested": ("test.requested", ("testsrc", "arch", "triggers", "queue", "requester")),
    "started": ("test.started", ("testsrc", "arch", "triggers", "worker")),
    "finished": (
        "test.finished",
        (
            "testsrc",
            "arch",
            "triggers",
            "exitcode",
            "outcome",
            "run_id",
            "test_version",
            "duration",
            "requester",
            "worker",
        ),
    ),
    "dropped": ("test.dropped", ("testsrc", "arch", "triggers", "detail")),
    "published": ("results.published", ("testsrc", "arch", "triggers", "run_id", "status")),
    "excuse": ("excuse.changed", ("package", "version", "verdict", "reasons", "blocked_by")),
    "end": (None, ("event_type", "package", "version", "detail")),
}

_UTC_US = pl.Datetime("us", "UTC")
#: list columns travel through the buffer as space-joined text ("" = empty list)
_LIST_COLUMNS = frozenset(("arches", "triggers", "reasons", "blocked_by"))


def id_maker(prefix: str) -> Callable[[str], str]:
    """``derived_event_id(prefix, part)``, computed faster for many parts of one prefix."""
    base = hashlib.sha1(EVENT_ID_NAMESPACE.bytes + (prefix + "\x1f").encode())
    variant = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}

    def make(part: str) -> str:
        h = base.copy()
        h.update(part.encode())
        x = h.hexdigest()  # uuid5: version nibble 5, RFC 4122 variant bits
        return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{variant[x[16]]}{x[17:20]}-{x[20:32]}"

    assert make("0") == derived_event_id(prefix, "0")
    return make


class EventBuffer:
    """Events and samples of the current batch."""

    def __init__(self, prefix: str, release: str) -> None:
        self.prefix = prefix
        self.release = release
        self.n = 0  # events emitted so far (the id counter)
        # list fields (arches, triggers, reasons, blocked_by) are given as space-joined text
        self.rows: dict[str, list[tuple]] = {name: [] for name in _SHAPES}
        self.samples: list[tuple] = []
        # bound appenders for the hot paths
        self._requested = self.rows["requested"].append
        self._started = self.rows["started"].append
        self._finished = self.rows["finished"].append
        self._published = self.rows["published"].append

    def accepted(self, t, package, version, old_version, component, maintainer) -> None:
        self.n += 1
        self.rows["accepted"].append(
            (self.n, t, package, version, old_version, component, maintainer)
        )

    def build(self, t, event_type, package, version, arches) -> None:
        self.n += 1
        self.rows["build"].append((self.n, t, event_type, package, version, arches))

    def requested(self, t, testsrc, arch, triggers, queue, requester) -> None:
        self.n += 1
        self._requested((self.n, t, testsrc, arch, triggers, queue, requester))

    def started(self, t, testsrc, arch, triggers, worker) -> None:
        self.n += 1
        self._started((self.n, t, testsrc, arch, triggers, worker))

    def finished(
        self, t, testsrc, arch, triggers, exitcode, outcome, run_id, test_version, duration,
        requester, worker,
    ) -> None:  # fmt: skip
        self.n += 1
        self._finished(
            (self.n, t, testsrc, arch, triggers, exitcode, outcome, run_id, test_version,
             duration, requester, worker)
        )  # fmt: skip

    def dropped(self, t, testsrc, arch, triggers, detail) -> None:
        self.n += 1
        self.rows["dropped"].append((self.n, t, testsrc, arch, triggers, detail))

    def published(self, t, testsrc, arch, triggers, run_id, status) -> None:
        self.n += 1
        self._published((self.n, t, testsrc, arch, triggers, run_id, status))

    def excuse(self, t, package, version, verdict, reasons, blocked_by) -> None:
        self.n += 1
        self.rows["excuse"].append((self.n, t, package, version, verdict, reasons, blocked_by))

    def upload_end(self, t, event_type, package, version, detail) -> None:
        self.n += 1
        self.rows["end"].append((self.n, t, event_type, package, version, detail))

    def sample(self, t, arch, queue, size) -> None:
        self.samples.append((t, arch, queue, size))

    # -- frames -------------------------------------------------------------------------------

    def flush(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The batch so far as (events, samples) frames; the buffer starts empty again."""
        frames = []
        for shape, rows in self.rows.items():
            if rows:
                frames.append(_shape_frame(shape, rows))
                rows.clear()  # in place: the bound appenders (__init__) stay valid
        events = _events_frame(frames, self.prefix, self.release)
        samples = _samples_frame(self.samples, self.prefix, self.release)
        self.samples = []
        return events, samples


def _timestamps(seconds: Sequence[int]) -> pl.Series:
    return (pl.Series(seconds, dtype=pl.Int64) * 1_000_000).cast(_UTC_US)


def _shape_frame(shape: str, rows: list[tuple]) -> pl.DataFrame:
    fixed_type, fields = _SHAPES[shape]
    columns = list(zip(*rows, strict=True))
    data = {
        "_n": pl.Series(columns[0], dtype=pl.Int64),
        "occurred_at": _timestamps(columns[1]),
    }
    lists = []
    for name, values in zip(fields, columns[2:], strict=True):
        if name in _LIST_COLUMNS:
            data[name] = pl.Series(values, dtype=pl.String)
            lists.append(name)
        else:
            data[name] = pl.Series(values, dtype=EVENT_POLARS_SCHEMA[name])
    frame = pl.DataFrame(data).with_columns(
        pl.when(pl.col(c) == "")
        .then(pl.lit([], dtype=pl.List(pl.String)))
        .otherwise(pl.col(c).str.split(" "))
        .alias(c)
        for c in lists
    )
    if fixed_type is not None:
        frame = frame.with_columns(event_type=pl.lit(fixed_type, dtype=pl.String))
    return frame


def _events_frame(frames: list[pl.DataFrame], prefix: str, release: str) -> pl.DataFrame:
    if not frames:
        return pl.DataFrame(schema={c: EVENT_POLARS_SCHEMA[c] for c in PARSED_COLUMNS})
    frame = pl.concat(frames, how="diagonal").sort("_n")
    make = id_maker(prefix)
    ids = [make(str(n)) for n in frame["_n"].to_list()]
    constants = {
        "event_id": pl.Series(ids, dtype=pl.String),
        "schema_version": pl.lit(CURRENT_SCHEMA_VERSION, dtype=EVENT_POLARS_SCHEMA["schema_version"]),
        "source": pl.lit(SOURCE, dtype=pl.String),
        "release": pl.lit(release, dtype=pl.String),
    }
    frame = frame.with_columns(**constants)
    return frame.select(
        pl.col(c) if c in frame.columns else pl.lit(None, dtype=EVENT_POLARS_SCHEMA[c]).alias(c)
        for c in PARSED_COLUMNS
    )


def _samples_frame(rows: list[tuple], prefix: str, release: str) -> pl.DataFrame:
    schema = {c: SAMPLE_POLARS_SCHEMA[c] for c in SAMPLE_COLUMNS}
    if not rows:
        return pl.DataFrame(schema=schema)
    t, arch, queue, size = zip(*rows, strict=True)
    make = id_maker(prefix)
    ids = [make(f"sample\x1f{ti}\x1f{a}\x1f{q}") for ti, a, q in zip(t, arch, queue, strict=True)]
    frame = pl.DataFrame(
        {
            "sample_id": pl.Series(ids, dtype=pl.String),
            "observed_at": _timestamps(t),
            "arch": pl.Series(arch, dtype=pl.String),
            "queue": pl.Series(queue, dtype=pl.String),
            "size": pl.Series(size, dtype=schema["size"]),
        }
    )
    frame = frame.with_columns(source=pl.lit(SOURCE), release=pl.lit(release))
    return frame.select(pl.col(c).cast(schema[c]) for c in SAMPLE_COLUMNS)


def to_json_lines(events: pl.DataFrame) -> list[bytes]:
    """Events as JSON Lines in the v2 wire shape (ISO 8601 UTC times, nulls as ``null``)."""
    wire = events.with_columns(
        pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        for c in ("occurred_at", "occurred_after")
        if c in events.columns
    )
    buffer = io.BytesIO()
    wire.write_ndjson(buffer)
    return buffer.getvalue().splitlines()
