"""Import autopkgtest-cloud's live snapshots: ``queued.json`` and ``running.json``.

``queued.json`` (refreshed every ~20 s)::

    {"releases": [...], "arches": [...],
     "queues": {context: {release: {arch: {
         "size": N, "requests": ["<pkg>\\n<JSON params>" | "private job"]}}}}}

gives one ``test.requested`` per request (``queue`` = the context, ``requester``
and ``triggers`` from the params) at the request's ``submit-time``
(``%Y-%m-%d %H:%M:%S``, naive UTC or with ``+0000``); without a submit time, at
``observed_at`` (an upper bound). The event id is derived from ``(release, arch,
testsrc, sorted triggers, submit-time)``: the same request seen in many snapshots
is one event. ``"private job"`` entries carry nothing and are skipped (counted).
Each (context, release, arch) also gives one queue-depth sample with ``size``.

``running.json``::

    {pkg: {runhash: {release: {arch: [params, elapsed_seconds, logtail]}}}}

gives one ``test.started`` per job at ``observed_at - elapsed`` (id from
``(release, arch, pkg, runhash)``), and, when the params carry ``submit-time``, the
``test.requested`` of the same job with the same id the queue importer gives it
(so a job that spent less time queued than the polling interval still has its
request).

A malformed request or job is skipped and counted in the :class:`ImportReport`;
an unreadable or non-JSON file raises :class:`IngestError`.
"""

from __future__ import annotations

import gzip
import json
import lzma
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import polars as pl

from pkgflow.errors import IngestError
from pkgflow.events.parse import derived_event_id
from pkgflow.events.types import ARCHES, CURRENT_SCHEMA_VERSION
from pkgflow.ingest.autopkgtest_db import (
    SAMPLE_FRAME_SCHEMA,
    TRIGGER_PATTERN,
    ImportReport,
    events_frame,
    requested_event_id,
    utc,
)

QUEUED_SOURCE: Final = "import:queued"
RUNNING_SOURCE: Final = "import:running"
PRIVATE_JOB: Final = "private job"

_SUBMIT_TIME_RE: Final = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_TRIGGER_RE: Final = re.compile(TRIGGER_PATTERN)


def parse_submit_time(value: str) -> datetime:
    """``submit-time`` -> UTC datetime; naive times are UTC. Raises ValueError."""
    match = _SUBMIT_TIME_RE.match(value.strip())
    if not match:
        msg = f"submit-time {value[:40]!r} is not YYYY-MM-DD HH:MM:SS[ +0000]"
        raise ValueError(msg)
    day, clock, zone = match.groups()
    zone = "+00:00" if zone in (None, "Z") else zone
    return utc(datetime.fromisoformat(f"{day}T{clock}{zone}"))


def queue_snapshot_events(
    path: Path, observed_at: datetime, *, report: ImportReport | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(``test.requested`` events, queue-depth samples) of one ``queued.json``."""
    path = Path(path)
    report = report if report is not None else ImportReport()
    report.source = report.source or QUEUED_SOURCE
    observed_at = utc(observed_at)
    data = _load_json(path, "queued.json")
    queues = data.get("queues") if isinstance(data, dict) else None
    if not isinstance(queues, dict):
        msg = f"{path}: not a queued.json (expected an object with a `queues` mapping)"
        raise IngestError(msg)
    rows: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    seen: set[str] = set()
    for context, by_release in queues.items():
        if not isinstance(by_release, dict):
            report.skip("queue context is not a mapping of releases", str(context))
            continue
        for release, by_arch in by_release.items():
            if not isinstance(by_arch, dict):
                report.skip("release entry is not a mapping of arches", f"{context}/{release}")
                continue
            for arch, queue in by_arch.items():
                where = f"{context}/{release}/{arch}"
                if arch not in ARCHES:
                    report.skip("unknown arch", where)
                    continue
                if not isinstance(queue, dict):
                    report.skip("queue is not an object with size and requests", where)
                    continue
                requests = queue.get("requests") or []
                if not isinstance(requests, list):
                    report.skip("queue `requests` is not a list", where)
                    requests = []
                size = queue.get("size")
                if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
                    samples.append(
                        {
                            "sample_id": derived_event_id(
                                "queue.sample", release, arch, context, observed_at.isoformat()
                            ),
                            "observed_at": observed_at,
                            "source": QUEUED_SOURCE,
                            "release": release,
                            "arch": arch,
                            "queue": context,
                            "size": size,
                        }
                    )
                else:
                    report.skip("queue size missing or not a count: no sample", where)
                for position, request in enumerate(requests):
                    report.read += 1
                    record = f"{where} #{position}"
                    if request == PRIVATE_JOB:
                        report.skip("private job (no details published)", record)
                        continue
                    event = _request_event(request, release, arch, observed_at, report, record)
                    if event is None:
                        continue
                    if event["event_id"] in seen:
                        report.skip("duplicate request in the same snapshot", record)
                        continue
                    seen.add(event["event_id"])
                    event["queue"] = context
                    rows.append(event)
    events = events_frame(rows)
    report.count(events)
    report.emitted["sample"] += len(samples)
    return events, pl.DataFrame(samples, schema=SAMPLE_FRAME_SCHEMA)


def _request_event(
    request: Any,
    release: str,
    arch: str,
    observed_at: datetime,
    report: ImportReport,
    record: str,
) -> dict[str, Any] | None:
    if not isinstance(request, str):
        report.skip("request is not text", record)
        return None
    testsrc, _, text = request.partition("\n")
    testsrc = testsrc.strip()
    record = f"{record} {testsrc[:60]}"
    if not testsrc:
        report.skip("request without a package name", record)
        return None
    try:
        params = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        report.skip("unparsable params JSON", f"{record} ({exc.msg})")
        return None
    if not isinstance(params, dict):
        report.skip("params JSON is not an object", record)
        return None
    return _requested(params, testsrc, release, arch, observed_at, QUEUED_SOURCE, report, record)


def _triggers(params: dict[str, Any], report: ImportReport, record: str) -> list[str] | None:
    triggers = params.get("triggers")
    if not isinstance(triggers, list) or not triggers:
        report.skip("no triggers in params", record)
        return None
    if not all(isinstance(t, str) and _TRIGGER_RE.match(t) for t in triggers):
        report.skip("trigger not of the form source/version", record)
        return None
    return sorted(triggers)


def _requested(
    params: dict[str, Any],
    testsrc: str,
    release: str,
    arch: str,
    observed_at: datetime,
    source: str,
    report: ImportReport,
    record: str,
) -> dict[str, Any] | None:
    triggers = _triggers(params, report, record)
    if triggers is None:
        return None
    submit = params.get("submit-time")
    submitted: datetime | None = None
    if submit is not None:
        try:
            submitted = parse_submit_time(str(submit))
        except ValueError as exc:
            report.skip("bad submit-time (want YYYY-MM-DD HH:MM:SS[ +0000])", f"{record} ({exc})")
            return None
    requester = params.get("requester")
    return {
        "event_id": requested_event_id(release, arch, testsrc, triggers, submitted),
        "event_type": "test.requested",
        "schema_version": CURRENT_SCHEMA_VERSION,
        "occurred_at": submitted or observed_at,
        "source": source,
        "release": release,
        "testsrc": testsrc,
        "arch": arch,
        "triggers": triggers,
        "requester": str(requester) if requester else None,
    }


def running_snapshot_events(
    path: Path, observed_at: datetime, *, report: ImportReport | None = None
) -> pl.DataFrame:
    """``test.started`` (and ``test.requested`` when known) events of one ``running.json``."""
    path = Path(path)
    report = report if report is not None else ImportReport()
    report.source = report.source or RUNNING_SOURCE
    observed_at = utc(observed_at)
    data = _load_json(path, "running.json")
    if not isinstance(data, dict):
        msg = f"{path}: not a running.json (expected an object {{package: {{runhash: ...}}}})"
        raise IngestError(msg)
    rows: list[dict[str, Any]] = []
    for testsrc, by_hash in data.items():
        if not isinstance(by_hash, dict):
            report.skip("package entry is not a mapping of run hashes", str(testsrc))
            continue
        for runhash, by_release in by_hash.items():
            if not isinstance(by_release, dict):
                report.skip("run entry is not a mapping of releases", f"{testsrc} {runhash}")
                continue
            for release, by_arch in by_release.items():
                if not isinstance(by_arch, dict):
                    report.skip("release entry is not a mapping of arches", f"{testsrc} {runhash}")
                    continue
                for arch, job in by_arch.items():
                    report.read += 1
                    record = f"{release}/{arch}/{testsrc} {runhash}"
                    rows += _running_job(
                        job, testsrc, runhash, release, arch, observed_at, report, record
                    )
    events = events_frame(rows)
    report.count(events)
    return events


def _running_job(
    job: Any,
    testsrc: str,
    runhash: str,
    release: str,
    arch: str,
    observed_at: datetime,
    report: ImportReport,
    record: str,
) -> list[dict[str, Any]]:
    if arch not in ARCHES:
        report.skip("unknown arch", record)
        return []
    if not isinstance(job, list) or len(job) < 2:
        report.skip("job is not a [params, elapsed_seconds, logtail] list", record)
        return []
    params, elapsed = job[0], job[1]
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except json.JSONDecodeError as exc:
            report.skip("unparsable params JSON", f"{record} ({exc.msg})")
            return []
    if not isinstance(params, dict):
        report.skip("params is not an object", record)
        return []
    if isinstance(elapsed, bool) or not isinstance(elapsed, int | float) or elapsed < 0:
        report.skip("elapsed seconds missing or negative", record)
        return []
    requested = _requested(
        params, testsrc, release, arch, observed_at, RUNNING_SOURCE, report, record
    )
    if requested is None:
        return []
    started = {
        **requested,
        "event_id": derived_event_id("test.started", release, arch, testsrc, str(runhash)),
        "event_type": "test.started",
        "occurred_at": observed_at - timedelta(seconds=float(elapsed)),
        "requester": None,
    }
    if params.get("submit-time") is None:
        return [started]
    if requested["occurred_at"] > started["occurred_at"]:
        requested["occurred_at"] = started["occurred_at"]  # clock skew: never after the start
    return [requested, started]


def _load_json(path: Path, what: str) -> Any:
    opener = {".xz": lzma.open, ".gz": gzip.open}.get(path.suffix, open)
    try:
        with opener(path, "rb") as handle:
            return json.load(handle)
    except FileNotFoundError as exc:
        msg = f"{path}: no such file; give autopkgtest-cloud's {what} (plain, .gz or .xz)"
        raise IngestError(msg) from exc
    except (OSError, EOFError, lzma.LZMAError) as exc:
        msg = f"{path}: cannot read ({exc}); check the path, permissions and compression suffix"
        raise IngestError(msg) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path}: not valid JSON ({exc}); give autopkgtest-cloud's {what}"
        raise IngestError(msg) from exc
