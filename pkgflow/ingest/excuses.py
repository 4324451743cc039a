"""Import britney's ``update_excuses.yaml`` snapshots as events.

One snapshot is britney's view at ``generated-date``. Given several snapshots of a
release, they are read in time order (by ``generated-date``, not by file name) and
each later snapshot is diffed against the previous one, so changes come out with
bounds: a change first seen in the snapshot generated at ``G`` after one generated
at ``P`` happened in ``(P, G]`` (``occurred_after = P``, ``occurred_at = G``).
Only the previous snapshot's state is kept, so memory does not grow with the
number of snapshots. One frame is yielded per snapshot.

Per item (an upload ``source/new-version``):

- ``upload.accepted`` at ``G - current-age`` days (``policy_info.age``), with
  ``old_version``, ``maintainer``, ``component`` (``main`` when absent);
- ``build.missing`` when ``missing-builds`` is present: ``arches`` = the union of
  ``on-architectures`` and ``on-unimportant-architectures``; at the acceptance time
  on first sight (a build missing now has been missing since the upload), later
  ``(P, G]`` when the set grows; ``build.completed`` with the arches that left the
  set, ``(P, G]``;
- ``excuse.changed`` with ``verdict`` (``migration-policy-verdict``), ``reasons``
  (``reason``), ``blocked_by`` (``dependencies.blocked-by``): on first sight at ``G``
  bounded below by the acceptance time (britney's verdict formed after it) or by
  ``P`` when later; afterwards whenever verdict, reasons or blocked_by change;
- when the item leaves: ``upload.migrated``, or ``upload.superseded`` (``detail`` =
  the new version) when the same source is still there with another version that
  did not come after this one migrated (the new item's ``old-version`` is not this
  version). Removal from -proposed cannot be told apart from migration in excuses,
  so ``upload.removed`` is never emitted here.

Item-name variants: ``src/arch`` (binary-only migration of an existing version) and
``-src`` (removal of a package from the release) are not uploads of a source
version: they are skipped and counted.

Per autopkgtest result ``policy_info.autopkgtest["<testsrc>/<testver>"][arch] =
[STATUS, log_url, ...]`` (the trigger is the item's ``source/new-version``; a key
without a version, as written while a test is running on every arch, gives a null
``test_version``):

- a finished run (log URL ``.../<run_id>/log.gz``): one ``test.finished`` at the
  run-id time (exact), with an exit code representative of britney's STATUS
  (:data:`STATUS_EXITCODE`; the real code is in the results database, and
  ``detail`` says the code was inferred); plus one ``results.published`` per
  (run, trigger) with ``status`` = STATUS at ``G``, bounded below by the finish
  time (first snapshot) or ``max(P, finish)``;
- one run serving several triggers (the same run id listed under several items,
  e.g. gst-plugins-{base,good,bad} uploaded together): ONE ``test.finished``
  (its id is ``("test.finished", release, arch, testsrc, run_id)``, shared with the
  results-DB importer) whose ``triggers`` are the sorted union of the items listing
  it, and one ``results.published`` per trigger (britney's status is per trigger);
- ``RUNNING`` / ``RUNNING-ALWAYSFAIL`` (no run yet): ``test.requested`` with the
  item's trigger at ``G`` (``occurred_after`` = ``P``, or null on the first
  snapshot), once per sighting streak: its id includes the ``generated-date`` of
  the first snapshot that showed it running;
- ``RUNNING-REFERENCE``: the run for the trigger finished and failed (its log URL
  is real) while the baseline run (trigger ``migration-reference/0``) is in
  flight: a ``test.finished`` (fail) and ``results.published`` for the former and a
  ``test.requested`` for the latter;
- results (run, trigger) already in the previous snapshot are not re-emitted.

The release is not written in the file: it is taken from the log URLs
(``/autopkgtest-<release>/<release>/``), else from a file name like
``update_excuses-<release>-...``, else it must be given.
"""

from __future__ import annotations

import gzip
import lzma
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final

import polars as pl
import yaml

from pkgflow.errors import IngestError
from pkgflow.events.parse import derived_event_id
from pkgflow.events.types import ARCHES, CURRENT_SCHEMA_VERSION, EXITCODE_OUTCOME
from pkgflow.ingest.autopkgtest_db import (
    ImportReport,
    events_frame,
    finished_event_id,
    run_finish_time,
    utc,
)

SOURCE: Final = "import:excuses"

#: britney STATUS of a finished run -> a representative autopkgtest exit code.
#: britney's FAIL covers exit codes 4, 6, 12, 14, 16, 20 (and 99); 4 stands for all.
STATUS_EXITCODE: Final[dict[str, int]] = {
    "PASS": 0,
    "OLD_PASS": 0,
    "NEUTRAL": 8,
    "OLD_NEUTRAL": 8,
    "FAIL": 4,
    "OLD_FAIL": 4,
    "REGRESSION": 4,
    "ALWAYSFAIL": 4,
    "IGNORE-FAIL": 4,  # a failure britney was told to ignore (force-badtest)
    "RUNNING-REFERENCE": 4,  # the triggered run failed; its baseline is running
}
#: Statuses of a test still in flight (no run to point at).
RUNNING_STATUSES: Final = frozenset({"RUNNING", "RUNNING-ALWAYSFAIL"})
#: The trigger of baseline runs.
REFERENCE_TRIGGER: Final = "migration-reference/0"

_GENERATED_RE: Final = re.compile(rb"^generated-date:[ \t]*['\"]?([^'\"\r\n]+)", re.MULTILINE)
_URL_RELEASE_RE: Final = re.compile(r"/autopkgtest-([a-z]+)/\1/")
_NAME_RELEASE_RE: Final = re.compile(r"update_excuses[-_.]([a-z]+)")
_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class _Upload:
    verdict: str | None
    reasons: tuple[str, ...]
    blocked_by: tuple[str, ...]
    missing: frozenset[str]


@dataclass
class _Snapshot:
    """What the next snapshot of the same release is diffed against."""

    generated: datetime
    uploads: dict[tuple[str, str], _Upload] = field(default_factory=dict)
    #: (arch, testsrc, run_id)
    runs: set[tuple[str, str, str]] = field(default_factory=set)
    #: (arch, testsrc, run_id, trigger)
    published: set[tuple[str, str, str, str]] = field(default_factory=set)
    #: (arch, testsrc, triggers) -> generated-date of the first snapshot showing it running
    running: dict[tuple[str, str, tuple[str, ...]], datetime] = field(default_factory=dict)


def excuses_events(
    paths: Sequence[Path],
    progress: Callable[[int], None] | None = None,
    *,
    report: ImportReport | None = None,
    release: str | None = None,
    in_flight: bool = True,
) -> Iterator[pl.DataFrame]:
    """Yield one event frame per snapshot, snapshots in ``generated-date`` order.

    ``progress(1)`` is called after each file. ``release`` overrides the release
    inferred from each file. ``in_flight=False`` leaves out the ``test.requested``
    events of tests britney shows as running (use it when queued.json history
    covers the same period: those requests are then already known, with their
    exact submit time, and a second ``test.requested`` would open a second run).
    An unreadable or non-excuses file raises :class:`IngestError`; every file is
    opened (to read its ``generated-date``) before any event is produced, so a
    missing or unreadable one fails early.
    """
    report = report if report is not None else ImportReport()
    report.source = report.source or SOURCE
    ordered = sorted((_peek_generated(Path(p)), str(p), Path(p)) for p in paths)
    previous: dict[str, _Snapshot] = {}
    for _, _, path in ordered:
        data = _load(path)
        generated = _generated(data, path)
        rel = release or _infer_release(data, path)
        prev = previous.get(rel)
        if prev is not None and generated <= prev.generated:
            report.skip("snapshot already imported (same release and generated-date)", str(path))
            if progress is not None:
                progress(1)
            continue
        rows, state = _snapshot_events(
            data["sources"], rel, generated, prev, report, path, in_flight=in_flight
        )
        previous[rel] = state
        del data
        frame = events_frame(rows)
        del rows
        report.count(frame)
        if progress is not None:
            progress(1)
        if frame.height:
            yield frame


# --------------------------------------------------------------------------------------
# reading files


def _open(path: Path) -> IO[bytes]:
    opener = {".xz": lzma.open, ".gz": gzip.open}.get(path.suffix, open)
    try:
        return opener(path, "rb")
    except FileNotFoundError as exc:
        msg = f"{path}: no such file; give britney's update_excuses.yaml (plain, .gz or .xz)"
        raise IngestError(msg) from exc
    except OSError as exc:
        raise IngestError(f"{path}: cannot open ({exc}); check the path and permissions") from exc


def _peek_generated(path: Path) -> datetime:
    """``generated-date`` from the head of the file (it is the first key britney writes)."""
    try:
        with _open(path) as handle:
            head = handle.read(65536)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise _unreadable(path, exc) from exc
    match = _GENERATED_RE.search(head)
    if match:
        try:
            return utc(datetime.fromisoformat(match.group(1).decode().strip()))
        except ValueError:
            pass
    return _generated(_load(path), path)  # unusual layout: read it all


def _load(path: Path) -> dict[str, Any]:
    try:
        with _open(path) as handle:
            data = yaml.load(handle, Loader=_LOADER)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or exc
        msg = f"{path}: not valid YAML{at} ({problem}); is it update_excuses.yaml?"
        raise IngestError(msg) from exc
    except (OSError, EOFError, lzma.LZMAError, UnicodeDecodeError) as exc:
        raise _unreadable(path, exc) from exc
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
        msg = (
            f"{path}: not an update_excuses.yaml (expected a mapping with `generated-date` "
            "and a `sources` list)"
        )
        raise IngestError(msg)
    return data


def _unreadable(path: Path, exc: BaseException) -> IngestError:
    return IngestError(
        f"{path}: cannot read ({exc}); give britney's update_excuses.yaml, plain or "
        "compressed with xz or gzip (by the .xz / .gz suffix)"
    )


def _generated(data: dict[str, Any], path: Path) -> datetime:
    value = data.get("generated-date")
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, str):
        try:
            return utc(datetime.fromisoformat(value.strip()))
        except ValueError:
            pass
    msg = (
        f"{path}: `generated-date` missing or not a timestamp (got {value!r}); "
        "is it update_excuses.yaml?"
    )
    raise IngestError(msg)


def _infer_release(data: dict[str, Any], path: Path) -> str:
    for item in data["sources"]:
        tests = ((item or {}).get("policy_info") or {}).get("autopkgtest") or {}
        if not isinstance(tests, dict):
            continue
        for per_arch in tests.values():
            if not isinstance(per_arch, dict):
                continue
            for result in per_arch.values():
                if isinstance(result, list) and len(result) > 1 and isinstance(result[1], str):
                    match = _URL_RELEASE_RE.search(result[1])
                    if match:
                        return match.group(1)
    match = _NAME_RELEASE_RE.search(path.name)
    if match:
        return match.group(1)
    msg = (
        f"{path}: cannot tell the release (no autopkgtest log URL, no release in the file "
        "name); give it with --release (release= in Python) or name the file update_excuses-<release>-..."
    )
    raise IngestError(msg)


# --------------------------------------------------------------------------------------
# one snapshot


def _run_id_from_url(url: Any) -> str | None:
    """The path segment before ``/log.gz``, or None."""
    if not isinstance(url, str) or not url.endswith("/log.gz"):
        return None
    segments = url.split("/")
    return segments[-2] if len(segments) >= 2 else None


def _text_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return []


def _snapshot_events(
    items: list[Any],
    release: str,
    generated: datetime,
    prev: _Snapshot | None,
    report: ImportReport,
    path: Path,
    *,
    in_flight: bool = True,
) -> tuple[list[dict[str, Any]], _Snapshot]:
    rows: list[dict[str, Any]] = []
    after = prev.generated if prev is not None else None
    state = _Snapshot(generated)
    current: dict[str, tuple[str, str | None]] = {}  # source -> (new-version, old-version)
    runs: dict[tuple[str, str, str], dict[str, Any]] = {}

    def event(
        event_type: str,
        key: tuple[str, ...],
        occurred_at: datetime,
        occurred_after: datetime | None = None,
        **fields: Any,
    ) -> None:
        rows.append(
            {
                "event_id": derived_event_id(event_type, release, *key),
                "event_type": event_type,
                "schema_version": CURRENT_SCHEMA_VERSION,
                "occurred_at": occurred_at,
                "occurred_after": occurred_after,
                "source": SOURCE,
                "release": release,
                **fields,
            }
        )

    def one_item(index: int, item: Any) -> None:
        report.read += 1
        if not isinstance(item, dict):
            report.skip("item is not a mapping", f"{path.name} item #{index}")
            return
        name = str(item.get("item-name") or "")
        record = name or f"{path.name} item #{index}"
        if name.startswith("-"):
            report.skip("removal item (-src): not an upload", record)
            return
        if "/" in name:
            report.skip("binary-only item (src/arch): not a new source upload", record)
            return
        package, version = item.get("source"), item.get("new-version")
        if not package or version in (None, "", "-"):
            report.skip("item without source or new-version", record)
            return
        package, version = str(package), str(version)
        if name and name != package:
            report.skip("item-name is neither source, src/arch nor -src", record)
            return
        if (package, version) in state.uploads:
            report.skip("duplicate item (same source and new-version)", record)
            return
        trigger = f"{package}/{version}"
        old_version = item.get("old-version")
        old_version = None if old_version in (None, "", "-") else str(old_version)
        verdict = item.get("migration-policy-verdict")
        verdict = str(verdict) if verdict else None
        reasons = tuple(_text_list(item.get("reason")))
        dependencies = item.get("dependencies")
        blocked_by = tuple(
            sorted(_text_list(dependencies.get("blocked-by")))
            if isinstance(dependencies, dict)
            else ()
        )
        builds = item.get("missing-builds")
        missing = (
            frozenset(
                _text_list(builds.get("on-architectures"))
                + _text_list(builds.get("on-unimportant-architectures"))
            )
            if isinstance(builds, dict)
            else frozenset()
        )
        policy = item.get("policy_info") if isinstance(item.get("policy_info"), dict) else {}
        age = (
            (policy.get("age") or {}).get("current-age")
            if isinstance(policy.get("age"), dict)
            else None
        )
        accepted = (
            generated - timedelta(days=float(age))
            if isinstance(age, int | float) and not isinstance(age, bool) and 0 <= age < math.inf
            else None
        )
        upload = _Upload(verdict, reasons, blocked_by, missing)
        state.uploads[(package, version)] = upload
        current[package] = (version, old_version)
        known = prev.uploads.get((package, version)) if prev is not None else None
        excuse = {
            "package": package,
            "version": version,
            "verdict": verdict,
            "reasons": list(reasons),
            "blocked_by": list(blocked_by),
        }
        if known is None:
            if accepted is None:
                report.skip(
                    "no usable policy_info.age.current-age: upload.accepted not emitted", record
                )
            else:
                event(
                    "upload.accepted",
                    (package, version),
                    accepted,
                    package=package,
                    version=version,
                    old_version=old_version,
                    component=str(item.get("component") or "main"),
                    maintainer=str(item["maintainer"]) if item.get("maintainer") else None,
                )
            if missing:
                event(
                    "build.missing",
                    (package, version, " ".join(sorted(missing))),
                    accepted or generated,
                    None if accepted else after,
                    package=package,
                    version=version,
                    arches=sorted(missing),
                )
            lower = max((t for t in (after, accepted) if t is not None), default=None)
            if verdict is None:
                report.skip("no migration-policy-verdict: excuse.changed not emitted", record)
            else:
                event(
                    "excuse.changed",
                    (package, version, generated.isoformat()),
                    generated,
                    lower,
                    **excuse,
                )
        else:
            if verdict is not None and (known.verdict, known.reasons, known.blocked_by) != (
                verdict,
                reasons,
                blocked_by,
            ):
                event(
                    "excuse.changed",
                    (package, version, generated.isoformat()),
                    generated,
                    after,
                    **excuse,
                )
            if known.missing - missing:
                done = sorted(known.missing - missing)
                event(
                    "build.completed",
                    (package, version, " ".join(done), generated.isoformat()),
                    generated,
                    after,
                    package=package,
                    version=version,
                    arches=done,
                )
            if missing - known.missing:
                event(
                    "build.missing",
                    (package, version, " ".join(sorted(missing)), generated.isoformat()),
                    generated,
                    after,
                    package=package,
                    version=version,
                    arches=sorted(missing),
                )

        tests = policy.get("autopkgtest") or {}
        if not isinstance(tests, dict):
            report.skip("policy_info.autopkgtest is not a mapping", record)
            return
        for test_key, per_arch in tests.items():
            if test_key == "verdict":
                continue
            if not isinstance(per_arch, dict):
                report.skip("autopkgtest entry is not a mapping of arches", f"{record} {test_key}")
                continue
            testsrc, _, test_version = str(test_key).partition("/")
            for arch, result in per_arch.items():
                report.read += 1
                where = f"{trigger}: {test_key} on {arch}"
                if not isinstance(result, list) or not result or not isinstance(result[0], str):
                    report.skip("result is not a [STATUS, log_url, ...] list", where)
                    continue
                if arch not in ARCHES:
                    report.skip("unknown arch", where)
                    continue
                status = result[0]
                if status in RUNNING_STATUSES or status == "RUNNING-REFERENCE":
                    triggers = (REFERENCE_TRIGGER,) if status == "RUNNING-REFERENCE" else (trigger,)
                    running_key = (arch, testsrc, triggers)
                    if running_key not in state.running:
                        first = prev.running.get(running_key) if prev is not None else None
                        state.running[running_key] = first or generated
                    if status in RUNNING_STATUSES:
                        continue
                exitcode = STATUS_EXITCODE.get(status)
                if exitcode is None:
                    report.skip(f"unknown britney status {status[:40]}", where)
                    continue
                url = result[1] if len(result) > 1 else None
                run_id = _run_id_from_url(url)
                if run_id is None:
                    report.skip(
                        f"{status} result without a log URL ending in /<run_id>/log.gz", where
                    )
                    continue
                finish = run_finish_time(run_id)
                if finish is None:
                    report.skip("bad run_id in log URL", f"{where} ({run_id[:40]})")
                    continue
                run = runs.get((arch, testsrc, run_id))
                if run is None:
                    run = runs[(arch, testsrc, run_id)] = {
                        "finish": finish,
                        "status": status,
                        "exitcode": exitcode,
                        "test_version": test_version or None,
                        "statuses": {},
                    }
                run["statuses"].setdefault(trigger, status)

    for index, item in enumerate(items):
        mark = len(rows)
        try:
            one_item(index, item)
        except (AttributeError, KeyError, OverflowError, TypeError, ValueError) as exc:
            del rows[mark:]  # nothing half-done from this item
            name = item.get("item-name") if isinstance(item, dict) else None
            report.skip("item of an unexpected shape", f"{name or f'item #{index}'} ({exc})")

    for (arch, testsrc, run_id), run in runs.items():
        state.runs.add((arch, testsrc, run_id))
        triggers = sorted(run["statuses"])
        finish = run["finish"]
        if prev is None or (arch, testsrc, run_id) not in prev.runs:
            rows.append(
                {
                    "event_id": finished_event_id(release, arch, testsrc, run_id),
                    "event_type": "test.finished",
                    "schema_version": CURRENT_SCHEMA_VERSION,
                    "occurred_at": finish,
                    "source": SOURCE,
                    "release": release,
                    "testsrc": testsrc,
                    "arch": arch,
                    "triggers": triggers,
                    "run_id": run_id,
                    "test_version": run["test_version"],
                    "exitcode": run["exitcode"],
                    "outcome": EXITCODE_OUTCOME[run["exitcode"]],
                    "detail": f"exit code inferred from britney status {run['status']}",
                }
            )
        lower = max(finish, after) if after is not None else finish
        for trigger, status in run["statuses"].items():
            published = (arch, testsrc, run_id, trigger)
            state.published.add(published)
            if prev is not None and published in prev.published:
                continue
            event(
                "results.published",
                (arch, testsrc, run_id, trigger),
                generated,
                lower if lower <= generated else None,
                testsrc=testsrc,
                arch=arch,
                triggers=[trigger],
                run_id=run_id,
                test_version=run["test_version"],
                status=status,
            )

    for (arch, testsrc, triggers), first in state.running.items():
        if not in_flight or (prev is not None and (arch, testsrc, triggers) in prev.running):
            continue
        event(
            "test.requested",
            ("excuses", arch, testsrc, " ".join(triggers), first.isoformat()),
            generated,
            after,
            testsrc=testsrc,
            arch=arch,
            triggers=list(triggers),
        )

    if prev is not None:
        for package, version in prev.uploads.keys() - state.uploads.keys():
            now = current.get(package)
            upload = {"package": package, "version": version}
            if now is not None and now[1] != version:
                event(
                    "upload.superseded",
                    (package, version),
                    generated,
                    after,
                    detail=now[0],
                    **upload,
                )
            else:
                event("upload.migrated", (package, version), generated, after, **upload)
    return rows, state
