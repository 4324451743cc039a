"""The test oracle: the seed's in-memory model, as a plain Python fold.

It walks the events once in ``(occurred_at, seq)`` order and keeps per-test and
per-upload state in dictionaries, exactly as the original tracker would, following
the rules of docs/events.md ("How test events form runs") and docs/queries.md. It
shares no code with the SQL in :mod:`pkgflow.replay.sql`: when both agree on random
histories, both are probably right.

It is also the baseline of ``benchmarks/replay.py``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

RANK = {"test.requested": 0, "test.started": 1, "test.finished": 2, "test.dropped": 2}
PASSING = {"pass", "neutral"}
END_TYPES = {"upload.migrated": "migrated", "upload.superseded": "superseded",
             "upload.removed": "removed"}
BRITNEY_TYPES = {"excuse.changed", *END_TYPES}


@dataclass
class Run:
    release: str
    arch: str
    testsrc: str
    triggers: tuple[str, ...]
    attempt: int
    opened_at: datetime
    opened_seq: int
    requested_at: datetime | None = None
    queue: str | None = None
    request_requester: str | None = None
    observed_start_at: datetime | None = None
    start_worker: str | None = None
    finished_at: datetime | None = None
    run_id: str | None = None
    exitcode: int | None = None
    outcome: str | None = None
    duration: int | None = None
    test_version: str | None = None
    finish_requester: str | None = None
    finish_worker: str | None = None
    drop_detail: str | None = None
    dropped_at: datetime | None = None
    abandoned_at: datetime | None = None
    published_at: datetime | None = None
    britney_status: str | None = None
    attempts: int = 1
    last_rank: int = -1

    @property
    def ended(self) -> bool:
        return self.finished_at is not None or self.dropped_at is not None

    @property
    def started_at(self) -> datetime | None:
        if self.observed_start_at is not None:
            return self.observed_start_at
        if self.finished_at is not None and self.duration is not None:
            return self.finished_at - timedelta(seconds=self.duration)
        return None

    @property
    def requester(self) -> str | None:
        return self.request_requester or self.finish_requester

    @property
    def state(self) -> str:
        if self.finished_at is not None:
            return "finished"
        if self.dropped_at is not None:
            return "dropped"
        if self.attempt < self.attempts:
            return "abandoned"
        if self.observed_start_at is not None:
            return "running"
        return "queued"

    def as_row(self) -> dict[str, Any]:
        started = self.started_at
        return {
            "release": self.release,
            "arch": self.arch,
            "testsrc": self.testsrc,
            "triggers": list(self.triggers),
            "attempt": self.attempt,
            "attempts": self.attempts,
            "state": self.state,
            "queue": self.queue,
            "requester": self.requester,
            "requested_at": self.requested_at,
            "started_at": started,
            "finished_at": self.finished_at,
            "dropped_at": self.dropped_at,
            "abandoned_at": self.abandoned_at,
            "published_at": self.published_at,
            "queue_wait_s": _seconds(started, self.requested_at),
            "run_time_s": (
                _seconds(self.finished_at, started)
                if self.finished_at is not None and started is not None
                else (float(self.duration) if self.duration is not None else None)
            ),
            "pickup_delay_s": _seconds(self.published_at, self.finished_at),
            "exitcode": self.exitcode,
            "outcome": self.outcome,
            "duration": self.duration,
            "run_id": self.run_id,
            "britney_status": self.britney_status,
            "test_version": self.test_version,
            # the finish's worker; a run that did not finish: its start's
            "worker": self.finish_worker if self.finished_at is not None else self.start_worker,
            "drop_detail": self.drop_detail,
            "opened_at": self.opened_at,
            "opened_seq": self.opened_seq,
        }


@dataclass
class Upload:
    release: str
    package: str
    version: str
    first_event_at: datetime | None = None
    accepted_at: datetime | None = None
    missing: set[str] | None = None  # None: no build.missing seen
    built_at: datetime | None = None
    verdict: str | None = None
    verdict_at: datetime | None = None
    reasons: list[str] | None = None
    blocked_by: list[str] | None = None
    end_type: str | None = None
    ended_at: datetime | None = None
    migrated_at: datetime | None = None
    superseded_at: datetime | None = None
    removed_at: datetime | None = None
    britney_times: list[datetime] = field(default_factory=list)


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return (a - b).total_seconds()


def _least(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _greatest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


@dataclass
class Model:
    """What the fold knows after the last event."""

    clock: datetime | None
    runs: list[Run]
    uploads: dict[tuple[str, str, str], dict[str, Any]]
    in_flight_tests: list[dict[str, Any]]
    in_flight_uploads: dict[tuple[str, str, str], dict[str, Any]]


def fold(
    events: Iterable[Mapping[str, Any]],
    as_of: datetime | None = None,
    days: float | None = None,
) -> Model:
    """Replay ``events`` (stored rows with ``seq``) into the in-memory model.

    ``as_of``: ignore events after it (and measure elapsed times to it); without it
    the clock is the newest event. ``days``: ignore events older than the clock minus
    ``days`` days.
    """
    chosen = [e for e in events if as_of is None or e["occurred_at"] <= as_of]
    clock = as_of or max((e["occurred_at"] for e in chosen), default=None)
    if days is not None and clock is not None:
        lower = clock - timedelta(days=days)
        chosen = [e for e in chosen if e["occurred_at"] > lower]
    chosen.sort(key=lambda e: (e["occurred_at"], e["seq"]))

    runs_by_key: dict[tuple, list[Run]] = defaultdict(list)
    publications: dict[tuple, dict[str, list[tuple[datetime, int, str | None]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    uploads: dict[tuple[str, str, str], Upload] = {}

    for e in chosen:
        kind = e["event_type"]
        t = e["occurred_at"]
        if kind in RANK or kind == "results.published":
            key = (e["release"], e["arch"], e["testsrc"], tuple(sorted(e["triggers"])))
            if kind == "results.published":
                publications[key][e["run_id"]].append((t, e["seq"], e.get("status")))
                continue
            rank = RANK[kind]
            runs = runs_by_key[key]
            current = runs[-1] if runs else None
            if current is None or rank <= current.last_rank:
                if current is not None and not current.ended:
                    current.abandoned_at = t
                current = Run(key[0], key[1], key[2], key[3], len(runs) + 1, t, e["seq"])
                runs.append(current)
            current.last_rank = rank
            if kind == "test.requested":
                current.requested_at = t
                current.queue = e.get("queue")
                current.request_requester = e.get("requester") or None
            elif kind == "test.started":
                current.observed_start_at = t
                current.start_worker = e.get("worker")
            elif kind == "test.finished":
                current.finished_at = t
                current.run_id = e.get("run_id")
                current.exitcode = e.get("exitcode")
                current.outcome = e.get("outcome")
                current.duration = e.get("duration")
                current.test_version = e.get("test_version")
                current.finish_requester = e.get("requester") or None
                current.finish_worker = e.get("worker")
            else:
                current.dropped_at = t
                current.drop_detail = e.get("detail")
            continue
        # upload lifecycle
        ukey = (e["release"], e["package"], e["version"])
        up = uploads.get(ukey)
        if up is None:
            up = uploads[ukey] = Upload(*ukey)
        up.first_event_at = up.first_event_at or t
        if kind == "upload.accepted":
            up.accepted_at = up.accepted_at or t
        elif kind == "build.missing":
            up.missing = set(e.get("arches") or [])
            up.built_at = t if not up.missing else None
        elif kind == "build.completed":
            if up.missing:
                up.missing -= set(e.get("arches") or [])
                if not up.missing:
                    up.built_at = t
        elif kind == "excuse.changed":
            up.verdict, up.verdict_at = e.get("verdict"), t
            up.reasons, up.blocked_by = e.get("reasons"), e.get("blocked_by")
            up.britney_times.append(t)
        elif kind in END_TYPES:
            setattr(up, f"{END_TYPES[kind]}_at", getattr(up, f"{END_TYPES[kind]}_at") or t)
            if up.end_type is None:
                up.end_type, up.ended_at = END_TYPES[kind], t
            up.britney_times.append(t)

    all_runs: list[Run] = []
    for key, runs in runs_by_key.items():
        for run in runs:
            run.attempts = len(runs)
            published = publications.get(key, {}).get(run.run_id) if run.run_id else None
            if published:
                run.published_at = min(p[0] for p in published)
                run.britney_status = max(published, key=lambda p: (p[0], p[1]))[2]
            all_runs.append(run)

    upload_rows = _uploads(all_runs, uploads, clock)
    in_flight_tests = _in_flight_tests(all_runs, clock)
    in_flight_uploads = _in_flight_uploads(all_runs, upload_rows, clock)
    return Model(clock, all_runs, upload_rows, in_flight_tests, in_flight_uploads)


def _uploads(
    runs: list[Run], uploads: dict[tuple[str, str, str], Upload], clock: datetime | None
) -> dict[tuple[str, str, str], dict[str, Any]]:
    # latest run per (upload, testsrc, arch)
    latest: dict[tuple, Run] = {}
    groups: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        for trigger in set(run.triggers):
            if "/" not in trigger or trigger.startswith("migration-reference/"):
                continue
            package, version = trigger.split("/", 1)
            group = ((run.release, package, version), run.testsrc, run.arch)
            groups[group].append(run)
            best = latest.get(group)
            if best is None or (run.opened_at, run.opened_seq) > (best.opened_at, best.opened_seq):
                latest[group] = run
    per_upload: dict[tuple, list[tuple[tuple, Run]]] = defaultdict(list)
    for group, run in latest.items():
        per_upload[group[0]].append((group, run))

    rows = {}
    for ukey in set(uploads) | set(per_upload):
        up = uploads.get(ukey) or Upload(*ukey)
        tests = per_upload.get(ukey, [])
        states = [r.state for _, r in tests]
        passed = sum(1 for _, r in tests if r.state == "finished" and r.outcome in PASSING)
        failed = sum(1 for _, r in tests if r.state == "finished" and r.outcome not in PASSING)
        runs_of = [r for group, _ in tests for r in groups[group]]
        first_test = _least(*(r.requested_at or r.opened_at for r in runs_of))
        finished = [r for r in runs_of if r.finished_at is not None]
        last_result_at = max((r.finished_at for r in finished), default=None)
        first_seen = _least(up.first_event_at, first_test)
        built_at = first_seen if up.missing is None else up.built_at
        queued, running = states.count("queued"), states.count("running")
        if up.end_type:
            state = up.end_type
        elif up.missing is not None and up.built_at is None:
            state = "building"
        elif queued + running:
            state = "testing"
        elif up.verdict and up.verdict.startswith("REJECTED"):
            state = "blocked"
        else:
            state = "ready"
        end = up.ended_at or clock
        tests_done_at = _greatest(built_at, last_result_at) if not queued + running else None
        britney_after = (
            min((t for t in up.britney_times if t >= tests_done_at), default=None)
            if tests_done_at is not None
            else None
        )
        b1 = max(min(built_at or end, end), first_seen)
        b2 = max(min(tests_done_at or end, end), b1)
        b3 = max(min(britney_after or end, end), b2)
        rows[ukey] = {
            "release": ukey[0],
            "package": ukey[1],
            "version": ukey[2],
            "state": state,
            "first_seen": first_seen,
            "accepted_at": up.accepted_at,
            "built_at": built_at,
            "missing_arches": sorted(up.missing) if up.missing is not None else None,
            "tests_total": len(tests),
            "tests_done": passed + failed,
            "tests_passed": passed,
            "tests_failed": failed,
            "tests_running": running,
            "tests_queued": queued,
            "tests_dropped": states.count("dropped") + states.count("abandoned"),
            "runs_total": len(runs_of),
            "last_result_at": last_result_at,
            "tests_done_at": tests_done_at,
            "britney_seen_at": britney_after,
            "verdict": up.verdict,
            "migrated_at": up.migrated_at,
            "superseded_at": up.superseded_at,
            "removed_at": up.removed_at,
            "ended_at": up.ended_at,
            "building_s": _seconds(b1, first_seen),
            "testing_s": _seconds(b2, b1),
            "pickup_s": _seconds(b3, b2),
            "blocked_s": _seconds(end, b3),
            "age_s": _seconds(end, first_seen),
        }
    return rows


def _in_flight_tests(runs: list[Run], clock: datetime | None) -> list[dict[str, Any]]:
    queues: dict[tuple, list[Run]] = defaultdict(list)
    rows = []
    for run in runs:
        if run.state == "queued":
            queues[(run.release, run.arch, run.queue)].append(run)
        elif run.state == "running":
            rows.append(_flight_row(run, run.observed_start_at, None, None, clock))
    for queue in queues.values():
        queue.sort(key=lambda r: (r.requested_at, r.opened_seq))
        for position, run in enumerate(queue, 1):
            rows.append(_flight_row(run, run.requested_at, position, len(queue), clock))
    return rows


def _flight_row(
    run: Run, since: datetime | None, position: int | None, size: int | None,
    clock: datetime | None,
) -> dict[str, Any]:
    return {
        "release": run.release, "arch": run.arch, "testsrc": run.testsrc,
        "triggers": list(run.triggers), "attempt": run.attempt, "state": run.state,
        "queue": run.queue, "since": since, "position": position, "queue_size": size,
        "elapsed_s": _seconds(clock, since),
    }


def _in_flight_uploads(
    runs: list[Run], uploads: dict[tuple[str, str, str], dict[str, Any]], clock: datetime | None
) -> dict[tuple[str, str, str], dict[str, Any]]:
    waiting: dict[tuple[str, str], set[str]] = defaultdict(set)
    for run in runs:
        if run.state in ("queued", "running"):
            for trigger in run.triggers:
                waiting[(run.release, trigger)].add(f"{run.testsrc}/{run.arch}")
    rows = {}
    for ukey, up in uploads.items():
        if up["state"] in ("migrated", "superseded", "removed"):
            continue
        names = waiting.get((ukey[0], f"{ukey[1]}/{ukey[2]}"))
        rows[ukey] = {
            "state": up["state"],
            "since": up["first_seen"],
            "elapsed_s": _seconds(clock, up["first_seen"]),
            "waiting_for": sorted(names) if names else None,
        }
    return rows
