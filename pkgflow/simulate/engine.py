"""A discrete-event simulation of the proposed-migration pipeline (domain.md sections 1, 6).

One heap of timed actions (``heapq``, ordered by (time, insertion counter)), one
``random.Random(seed)``. Every action runs at its own time and emits events with that
time, so events come out in time order and the run is causal: a shorter window is
an exact prefix of a longer one with the same arguments.

The hot paths (queueing a test, starting it, finishing it, publishing its result)
append plain tuples; :mod:`pkgflow.simulate.frames` turns a batch of them into one
typed Polars frame.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pkgflow.events.types import EXITCODE_OUTCOME
from pkgflow.simulate.frames import EventBuffer
from pkgflow.simulate.params import SimParams

if TYPE_CHECKING:
    from pkgflow.simulate import SimBatch

DAY = 86_400
HOUR = 3_600

# heap action kinds
_HOUR_TICK, _UPLOAD, _BUILD, _BRITNEY, _START, _FINISH, _SAMPLE, _BURST, _FATE = range(9)

# run states
_QUEUED, _RUNNING, _FINISHED, _DROPPED = range(4)

_SYLLABLES = (
    "ba be bi bo bu da de di do du ga ge gi go ka ke ki ko ku la le li lo lu ma me mi mo "
    "mu na ne ni no nu pa pe pi po ra re ri ro ru sa se si so ta te ti to tu va ve vi vo "
    "za ze zi zo x y z q"
).split()
_PREFIXES = ("", "", "", "", "lib", "python-", "node-", "golang-", "r-cran-", "ruby-", "lib", "")
_SUFFIXES = ("", "", "", "", "", "-utils", "-tools", "2", "3", "-perl", "-dev", "")


class _Upload:
    __slots__ = (
        "blocker",
        "broken",
        "build_arches",
        "fate_set",
        "hinted",
        "huge",
        "last_excuse",
        "missing",
        "n_regress",
        "old_version",
        "pending",
        "pkg",
        "requested",
        "state",
        "status",
        "testsrcs",
        "trigger",
        "triggers",
        "uid",
        "version",
    )


class _Run:
    __slots__ = (
        "arch",
        "duration",
        "exitcode",
        "key",
        "queue",
        "requester",
        "retries",
        "run_id",
        "state",
        "test_version",
        "testsrc",
        "triggers",
        "upload",
        "worker",
    )


def simulate(
    days: int,
    seed: int = 0,
    scale: float = 1.0,
    start: datetime | None = None,
    params: SimParams | None = None,
    release: str = "plucky",
) -> Iterator[SimBatch]:
    """Simulate ``days`` of the pipeline; yield one :class:`SimBatch` per simulated day.

    Deterministic: the same arguments give identical frames, event ids included.
    Arguments are checked at the call, not at the first ``next``.
    """
    if days < 0:
        msg = f"days must be >= 0 (got {days})"
        raise ValueError(msg)
    if not scale > 0:
        msg = f"scale must be > 0 (got {scale})"
        raise ValueError(msg)
    start = start or datetime(2025, 3, 1, tzinfo=UTC)
    start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    sim = _Simulation(params or SimParams(), seed, scale, start, release)
    return _batches(sim, days)


def _batches(sim: _Simulation, days: int) -> Iterator[SimBatch]:
    from pkgflow.simulate import SimBatch  # noqa: F811 (the public dataclass lives in __init__)

    for events, samples in sim.run(days):
        yield SimBatch(events=events, samples=samples)


class _Simulation:
    def __init__(
        self, params: SimParams, seed: int, scale: float, start: datetime, release: str
    ) -> None:
        self.p = p = params
        # independent streams, so that e.g. fewer workers leave arrivals unchanged
        self.seed = seed
        self.rng = random.Random(f"{seed}:pipeline")
        self.rng_arrivals = random.Random(f"{seed}:arrivals")
        self.rng_bursts = random.Random(f"{seed}:bursts")
        self.scale = scale
        self.t0 = int(start.timestamp())
        self.release = release
        prefix = "\x1f".join(
            ("simulator", release, str(seed), repr(float(scale)), start.isoformat(), p.digest())
        )
        self.buf = EventBuffer(prefix, release)
        self.heap: list[tuple] = []
        self.counter = 0
        self.arches = p.arches()
        self.arch_index = {a: i for i, a in enumerate(self.arches)}
        self._make_universe()
        # queues and workers, per arch: [ubuntu deque, huge deque], live sizes, idle workers
        self.queues = {a: (deque(), deque()) for a in self.arches}
        self.qsize = {a: [0, 0] for a in self.arches}
        self.idle: dict[str, list[str]] = {}
        for a in self.arches:
            n = max(1, round(p.workers.get(a, 10) * scale))
            self.idle[a] = [f"{a}-worker-{i:03d}" for i in range(n - 1, -1, -1)]
        self.burst_until = dict.fromkeys(self.arches, 0)
        self.active: dict[int, _Upload] = {}  # package index -> its upload in -proposed
        self.dependents: dict[int, list[_Upload]] = {}  # blocker package -> blocked uploads
        self.dirty: dict[int, _Upload] = {}  # uploads britney must look at again
        self.unpublished: list[_Run] = []
        self.redo: list[_Run] = []  # dropped by the janitor: britney asks again
        self.dirty_next: list[_Upload] = []  # PASS items that did not migrate this run
        self.ever_passed: dict[tuple[int, int], bool] = {}
        self.uid = 0
        self._fail_codes = [c for c, w in p.fail_exitcodes for _ in range(w)]
        # hourly arrival weights over a week (Monday 00:00 = index 0), mean 1
        lo, hi = p.office_hours
        weights = []
        for h in range(168):
            day, hour = divmod(h, 24)
            w = p.office_factor if lo <= hour < hi else p.night_factor
            weights.append(w * (p.weekend_factor if day >= 5 else 1.0))
        mean = sum(weights) / len(weights)
        self.hour_rate = [p.uploads_per_day * scale / 24 * w / mean for w in weights]

    # -- setup ------------------------------------------------------------------------------

    def _make_universe(self) -> None:
        p, rng = self.p, random.Random(f"{self.seed}:universe")
        n = max(p.n_packages, round(p.n_packages * self.scale), len(p.giants) + 10)
        names: list[str] = []
        seen: set[str] = set()
        for name, _ in p.giants:
            names.append(name)
            seen.add(name)
        while len(names) < n:
            stem = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
            name = rng.choice(_PREFIXES) + stem + rng.choice(_SUFFIXES)
            if name not in seen:
                seen.add(name)
                names.append(name)
        self.names = names
        self.fanout = [0] * n
        self.testable = [False] * n
        self.i386 = [False] * n
        self.dur_median = [0.0] * n
        self.flaky = [0.0] * n
        self.broken_arch = [-1] * n
        self.neutral = [False] * n
        self.component = [""] * n
        self.maintainer = [""] * n
        self.upstream = [""] * n
        self.revision = [0] * n
        self.uploads_done = [0] * n
        self.release_version = [""] * n
        flaky_cum = []
        acc = 0.0
        for share, _ in p.flaky:
            acc += share
            flaky_cum.append(acc)
        n_arches = len(self.arches)
        log_med = math.log(p.duration_median_s)
        giants = dict(p.giants)
        popularity = []
        for i, name in enumerate(names):
            if name in giants:
                self.fanout[i] = giants[name]
                self.testable[i] = True
            elif rng.random() >= p.p_no_tests:
                k = int(rng.random() ** (-1.0 / p.fanout_alpha))
                self.fanout[i] = max(1, min(k, p.fanout_max))
                self.testable[i] = rng.random() < p.p_testable
            else:
                self.testable[i] = rng.random() < p.p_testable * 0.5
            self.i386[i] = rng.random() < p.p_i386
            self.dur_median[i] = math.exp(rng.gauss(log_med, p.duration_pkg_sigma))
            r = rng.random()
            self.flaky[i] = p.flaky[min(bisect.bisect(flaky_cum, r), len(p.flaky) - 1)][1]
            if rng.random() < p.p_arch_broken:
                self.broken_arch[i] = rng.randrange(n_arches)
            self.neutral[i] = rng.random() < p.p_neutral_pkg
            self.component[i] = "main" if rng.random() < p.p_main else "universe"
            self.maintainer[i] = rng.choice(p.maintainers)
            self.upstream[i] = f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
            self.revision[i] = rng.randint(1, 5)
            self.release_version[i] = f"{self.upstream[i]}-{self.revision[i]}"
            popularity.append(math.exp(rng.gauss(0.0, p.upload_popularity_sigma)))
        self.testable_list = [i for i in range(n) if self.testable[i]]
        self.pop_cum = []
        acc = 0.0
        for w in popularity:
            acc += w
            self.pop_cum.append(acc)
        self.test_sets: dict[int, list[int]] = {}

    def _test_set(self, pkg: int) -> list[int]:
        """The test packages an upload of ``pkg`` triggers (fixed per package)."""
        found = self.test_sets.get(pkg)
        if found is not None:
            return found
        k = self.fanout[pkg]
        result: list[int] = []
        if k:
            if self.testable[pkg]:
                result.append(pkg)
            want = k - len(result)
            pool = self.testable_list
            if want > 0:
                rng = random.Random(f"{self.seed}:rdeps:{pkg}")
                drawn = rng.sample(pool, min(len(pool), want + 1))
                result.extend(i for i in drawn if i != pkg)
                del result[k:]
        self.test_sets[pkg] = result
        return result

    # -- main loop -----------------------------------------------------------------------------

    def push(self, t: float, kind: int, payload: object = None) -> None:
        self.counter += 1
        heapq.heappush(self.heap, (int(t), self.counter, kind, payload))

    def run(self, days: int) -> Iterator[tuple]:
        p, rng = self.p, self.rng
        t0 = self.t0
        end = t0 + days * DAY
        self.push(t0 - t0 % HOUR, _HOUR_TICK)
        self.push(t0 + rng.uniform(0, p.britney_interval_s), _BRITNEY)
        self.push(t0, _SAMPLE)
        self.push(t0 + self.rng_bursts.expovariate(1.0 / (p.burst_every_days * DAY)), _BURST)
        heap = self.heap
        pop = heapq.heappop
        day_end = t0 + DAY
        handlers = {
            _HOUR_TICK: self.on_hour,
            _UPLOAD: self.on_upload,
            _BUILD: self.on_build,
            _BRITNEY: self.on_britney,
            _SAMPLE: self.on_sample,
            _BURST: self.on_burst,
            _FATE: self.on_fate,
        }
        on_start, on_finish = self.on_start, self.on_finish
        while heap and heap[0][0] < end:
            t, _, kind, payload = pop(heap)
            while t >= day_end:
                yield self.buf.flush()
                day_end += DAY
            if kind == _FINISH:
                on_finish(t, payload)
            elif kind == _START:
                on_start(t, payload)
            else:
                handlers[kind](t, payload)
        while day_end <= end:
            yield self.buf.flush()
            day_end += DAY

    # -- arrivals ---------------------------------------------------------------------------------

    def on_hour(self, t: int, _: object) -> None:
        rng = self.rng_arrivals
        week_hour = ((t // HOUR) + 72) % 168  # 1970-01-01 was a Thursday
        lam = self.hour_rate[week_hour]
        n = _poisson(rng, lam)
        for s in sorted(rng.randrange(HOUR) for _ in range(n)):
            if t + s >= self.t0:
                self.push(t + s, _UPLOAD)
        self.push(t + HOUR, _HOUR_TICK)

    def on_upload(self, t: int, payload: object) -> None:
        """A new version enters -proposed (``payload``: a package index, else a random one)."""
        p, rng, buf = self.p, self.rng, self.buf
        if payload is None:
            pkg = bisect.bisect(self.pop_cum, self.rng_arrivals.random() * self.pop_cum[-1])
            pkg = min(pkg, len(self.names) - 1)
        else:
            pkg, expected = payload  # a planned fix: only if that upload is still there
            if self.active.get(pkg) is not expected:
                return
        name = self.names[pkg]
        self.uploads_done[pkg] += 1
        version = f"{self.upstream[pkg]}-{self.revision[pkg]}ubuntu{self.uploads_done[pkg]}"
        old = self.active.get(pkg)
        if old is not None:
            buf.upload_end(t, "upload.superseded", name, old.version, version)
            self._end_upload(t, old, "superseded", f"superseded by {name}/{version}")
        u = _Upload()
        self.uid += 1
        u.uid = self.uid
        u.pkg = pkg
        u.version = version
        u.old_version = self.release_version[pkg]
        u.trigger = f"{name}/{version}"
        u.testsrcs = self._test_set(pkg)
        u.huge = len(u.testsrcs) > p.huge_threshold
        u.pending = {}
        u.status = {}
        u.n_regress = 0
        u.hinted = False
        u.fate_set = False
        u.last_excuse = None
        u.state = "active"
        u.requested = set()
        u.blocker = -1
        u.triggers = u.trigger  # space-joined, as the buffer wants list fields
        if self.active and rng.random() < p.p_blocked:
            keys = list(self.active)
            blocker = keys[rng.randrange(len(keys))]
            if not self._blocks(pkg, blocker):
                u.blocker = blocker
                self.dependents.setdefault(blocker, []).append(u)
                u.triggers = f"{u.trigger} {self.active[blocker].trigger}"
        u.broken = None
        if u.testsrcs and rng.random() < p.p_breaking_upload:
            u.broken = {s for s in u.testsrcs if rng.random() < p.p_break_rdep}
        self.active[pkg] = u
        arches = list(self.arches) if self.i386[pkg] else [a for a in self.arches if a != "i386"]
        u.build_arches = arches
        u.missing = set(arches)
        buf.accepted(t, name, version, u.old_version, self.component[pkg], self.maintainer[pkg])
        buf.build(t, "build.missing", name, version, " ".join(arches))
        ftbfs = rng.choice(arches) if rng.random() < p.p_ftbfs else None
        for a in arches:
            if a == ftbfs:
                continue
            d = rng.lognormvariate(math.log(p.build_median_s), p.build_sigma)
            d *= p.build_arch_factor.get(a, 1.0)
            if rng.random() < p.p_build_late:
                d *= 8
            self.push(t + 60 + d, _BUILD, (u, a))
        if ftbfs is not None:
            if rng.random() < p.p_ftbfs_fixed:
                delay = rng.expovariate(1.0 / (p.ftbfs_fix_hours * HOUR))
                self.push(t + delay, _UPLOAD, (pkg, u))
            else:
                self._stuck(t, u)
        self.dirty[u.uid] = u

    def _blocks(self, pkg: int, blocker: int) -> bool:
        """Would ``pkg`` waiting for ``blocker`` close a cycle (britney migrates those together)?"""
        seen = 0
        while blocker >= 0 and seen < 50:
            if blocker == pkg:
                return True
            upload = self.active.get(blocker)
            blocker = upload.blocker if upload is not None else -1
            seen += 1
        return False

    def on_build(self, t: int, payload: tuple) -> None:
        u, arch = payload
        if u.state != "active":
            return
        u.missing.discard(arch)
        self.buf.build(t, "build.completed", self.names[u.pkg], u.version, arch)
        self.dirty[u.uid] = u

    def _end_upload(self, t: int, u: _Upload, state: str, why: str) -> None:
        """An upload leaves -proposed: its queued tests are filtered out of the queues."""
        u.state = state
        if self.active.get(u.pkg) is u:
            del self.active[u.pkg]
        self.dirty.pop(u.uid, None)
        buf = self.buf
        names = self.names
        for run in u.pending.values():
            if run.state == _QUEUED:
                run.state = _DROPPED
                self.qsize[run.arch][run.queue == "huge"] -= 1
                buf.dropped(t, names[run.testsrc], run.arch, run.triggers, why)
        u.pending = {}
        if state != "superseded":  # a superseded package is still in -proposed
            for d in self.dependents.pop(u.pkg, ()):
                if d.state == "active":
                    self.dirty[d.uid] = d

    # -- tests --------------------------------------------------------------------------------------

    def request(self, t: int, u: _Upload, testsrc: int, arch: str, retries: int, requester) -> None:
        run = _Run()
        run.testsrc = testsrc
        run.arch = arch
        run.triggers = u.triggers
        run.queue = "huge" if u.huge else "ubuntu"
        run.requester = requester
        run.upload = u
        run.retries = retries
        run.state = _QUEUED
        run.key = (testsrc, arch)
        u.pending[run.key] = run
        self.buf.requested(t, self.names[testsrc], arch, run.triggers, run.queue, requester)
        huge = u.huge
        self.queues[arch][huge].append(run)
        self.qsize[arch][huge] += 1

    def dispatch(self, t: int, arch: str) -> None:
        """Idle workers of ``arch`` take requests: ``ubuntu`` first, then ``huge`` (FIFO)."""
        idle = self.idle[arch]
        if not idle:
            return
        ubuntu, huge = self.queues[arch]
        qsize = self.qsize[arch]
        p, rng = self.p, self.rng
        while idle:
            if ubuntu:
                run = ubuntu.popleft()
                q = 0
            elif huge:
                run = huge.popleft()
                q = 1
            else:
                return
            if run.state != _QUEUED:  # dropped while queued (already counted)
                continue
            qsize[q] -= 1
            if rng.random() < p.p_drop:
                run.state = _DROPPED
                self.buf.dropped(
                    t, self.names[run.testsrc], arch, run.triggers, "filtered by the queue janitor"
                )
                self.redo.append(run)
                continue
            run.state = _RUNNING
            run.worker = idle.pop()
            self._draw_result(t, run)
            self.push(t + p.setup_s * (0.5 + rng.random()), _START, run)

    def _draw_result(self, t: int, run: _Run) -> None:
        p, rng = self.p, self.rng
        ts, arch = run.testsrc, run.arch
        r = rng.random()
        if r < p.p_tmpfail or (t < self.burst_until[arch] and r < p.burst_p_tmpfail):
            run.exitcode = 16
            run.duration = 10 + int(rng.random() * 300)
            return
        r = rng.random()
        broken = run.upload.broken
        if self.neutral[ts]:
            code = 8
        elif self.broken_arch[ts] == self.arch_index[arch] or (broken and ts in broken):
            code = rng.choice(self._fail_codes) if r < 0.97 else 0
        elif r < self.flaky[ts]:
            code = rng.choice(self._fail_codes)
        elif r > 1.0 - p.p_error:
            code = 20
        else:
            code = 2 if rng.random() < p.p_pass_skipped else 0
        d = self.dur_median[ts] * p.duration_arch_factor.get(arch, 1.0)
        d *= rng.lognormvariate(0.0, p.duration_run_sigma)
        run.duration = min(int(d) + 1, p.duration_cap_s)
        run.exitcode = code

    def on_start(self, t: int, run: _Run) -> None:
        self.buf.started(t, self.names[run.testsrc], run.arch, run.triggers, run.worker)
        self.push(t + run.duration, _FINISH, run)

    def on_finish(self, t: int, run: _Run) -> None:
        run.state = _FINISHED
        u = run.upload
        ts = run.testsrc
        run.run_id = time.strftime("%Y%m%d_%H%M%S", time.gmtime(t)) + "_%05x@" % (
            self.rng.getrandbits(20)
        )
        run.test_version = u.version if ts == u.pkg else self.release_version[ts]
        code = run.exitcode
        self.buf.finished(
            t,
            self.names[ts],
            run.arch,
            run.triggers,
            code,
            EXITCODE_OUTCOME[code],
            run.run_id,
            run.test_version,
            run.duration,
            run.requester,
            run.worker,
        )
        self.unpublished.append(run)
        self.idle[run.arch].append(run.worker)
        self.dispatch(t, run.arch)

    # -- britney ------------------------------------------------------------------------------------

    def on_britney(self, t: int, _: object) -> None:
        p, rng, buf, names = self.p, self.rng, self.buf, self.names
        touched_arches: set[str] = set()
        ever = self.ever_passed
        arch_index = self.arch_index
        # 1. new results
        unpublished, self.unpublished = self.unpublished, []
        for run in unpublished:
            ts, arch = run.key
            code = run.exitcode
            if code in (0, 2):
                status = "PASS"
                ever[ts, arch_index[arch]] = True
            elif code == 8:
                status = "NEUTRAL"
            else:
                key = (ts, arch_index[arch])
                passed = ever.get(key)
                if passed is None:
                    passed = (
                        self.broken_arch[ts] != arch_index[arch] and rng.random() < p.p_ever_passed
                    )
                    ever[key] = passed
                status = "REGRESSION" if passed else "ALWAYSFAIL"
            buf.published(t, names[ts], arch, run.triggers, run.run_id, status)
            u = run.upload
            if u.state != "active" or u.pending.get(run.key) is not run:
                continue
            if code == 16 and run.retries < p.max_retries:
                self.request(t, u, ts, arch, run.retries + 1, None)
                touched_arches.add(arch)
                continue
            del u.pending[run.key]
            before = u.status.get(run.key)
            u.status[run.key] = status
            u.n_regress += (status == "REGRESSION") - (before == "REGRESSION")
            self.dirty[u.uid] = u
        # 2. requests the janitor dropped: ask again
        redo, self.redo = self.redo, []
        for run in redo:
            u = run.upload
            if u.state == "active" and u.pending.get(run.key) is run:
                self.request(t, u, run.testsrc, run.arch, run.retries, run.requester)
                touched_arches.add(run.arch)
        # 3. items whose inputs changed (migrating one may unblock others: loop)
        while self.dirty:
            _, u = self.dirty.popitem()
            if u.state != "active":
                continue
            self._consider(t, u, touched_arches)
        for u in self.dirty_next:
            self.dirty[u.uid] = u
        self.dirty_next = []
        for arch in self.arches:
            if arch in touched_arches:
                self.dispatch(t, arch)
        jitter = rng.uniform(-p.britney_jitter_s, p.britney_jitter_s)
        self.push(t + p.britney_interval_s + jitter, _BRITNEY)

    def _consider(self, t: int, u: _Upload, touched: set[str]) -> None:
        p, rng = self.p, self.rng
        name = self.names[u.pkg]
        # request tests on arches built since the last run
        if u.testsrcs and len(u.requested) < len(self.arches):
            built_all = not u.missing
            for arch in self.arches:
                if arch in u.requested:
                    continue
                if arch in u.missing or (arch not in u.build_arches and not built_all):
                    continue
                u.requested.add(arch)
                i386 = arch == "i386"
                for ts in u.testsrcs:
                    if i386 and not self.i386[ts]:
                        continue
                    self.request(t, u, ts, arch, 0, None)
                touched.add(arch)
        # verdicts and reasons as in real excuses (update_excuses-plucky-2025-03-14):
        # missing builds -> CANNOT_DETERMINE (autopkgtest, missingbuild); a regression ->
        # PERMANENTLY; tests running -> TEMPORARILY; waiting for another item ->
        # BLOCKED_BY_ANOTHER_ITEM (depends), or PERMANENTLY when that item is.
        tests_waiting = bool(u.pending) or (u.testsrcs and len(u.requested) < len(self.arches))
        regressed = u.n_regress > 0 and not u.hinted
        reasons: list[str] = []
        if tests_waiting or regressed:
            reasons.append("autopkgtest")
        if u.missing:
            reasons.append("missingbuild")
        blocker = self.active.get(u.blocker) if u.blocker >= 0 else None
        blocked_by = None
        if regressed:
            verdict = "REJECTED_PERMANENTLY"
        elif u.missing:
            verdict = "REJECTED_CANNOT_DETERMINE_IF_PERMANENT"
        elif reasons:
            verdict = "REJECTED_TEMPORARILY"
        elif blocker is not None:
            blocked_by = self.names[u.blocker]
            reasons = ["depends"]
            permanent = blocker.last_excuse and blocker.last_excuse[0] == "REJECTED_PERMANENTLY"
            verdict = "REJECTED_PERMANENTLY" if permanent else "REJECTED_BLOCKED_BY_ANOTHER_ITEM"
        else:
            verdict = "PASS"
        excuse = (verdict, tuple(reasons), blocked_by)
        if excuse != u.last_excuse:
            u.last_excuse = excuse
            self.buf.excuse(t, name, u.version, verdict, " ".join(reasons), blocked_by)
            for d in self.dependents.get(u.pkg, ()):  # their verdict may follow this one
                if d.state == "active" and d.blocker == u.pkg:
                    self.dirty[d.uid] = d
        if regressed and not u.fate_set:
            u.fate_set = True
            self._plan_fate(t, u)
        if verdict == "PASS":
            if rng.random() < p.p_migration_deferred:
                self.dirty_next.append(u)
                return
            self.buf.upload_end(t, "upload.migrated", name, u.version, None)
            self.release_version[u.pkg] = u.version
            self._end_upload(t, u, "migrated", "migrated")

    def _plan_fate(self, t: int, u: _Upload) -> None:
        p, rng = self.p, self.rng
        r = rng.random()
        acc = 0.0
        for fate, prob in p.regression_fate.items():
            acc += prob
            if r < acc:
                delay = rng.expovariate(1.0 / (p.regression_fate_hours[fate] * HOUR))
                if fate == "supersede":
                    self.push(t + delay, _UPLOAD, (u.pkg, u))
                else:
                    self.push(t + delay, _FATE, (fate, u))
                return
        self._stuck(t, u)

    def _stuck(self, t: int, u: _Upload) -> None:
        """Nobody fixes it: it is removed from -proposed, eventually."""
        delay = self.rng.expovariate(1.0 / (self.p.stuck_remove_days * DAY))
        self.push(t + delay, _FATE, ("remove", u))

    def on_fate(self, t: int, payload: tuple) -> None:
        fate, u = payload
        if u.state != "active":
            return
        rng = self.rng
        if fate == "retry":
            requester = rng.choice(self.p.requesters)
            arches = set()
            for key, status in u.status.items():
                if status == "REGRESSION" and key not in u.pending:
                    self.request(t, u, key[0], key[1], 0, requester)
                    arches.add(key[1])
            u.fate_set = False  # if it fails again, decide again
            for arch in sorted(arches, key=self.arch_index.__getitem__):
                self.dispatch(t, arch)
        elif fate == "hint":
            u.hinted = True
            self.dirty[u.uid] = u
        elif fate == "remove":
            name = self.names[u.pkg]
            self.buf.upload_end(t, "upload.removed", name, u.version, None)
            self._end_upload(t, u, "removed", "removed from -proposed")

    # -- observation ----------------------------------------------------------------------------------

    def on_sample(self, t: int, _: object) -> None:
        for arch in self.arches:
            ubuntu, huge = self.qsize[arch]
            self.buf.sample(t, arch, "ubuntu", ubuntu)
            self.buf.sample(t, arch, "huge", huge)
        self.push(t + self.p.sample_interval_s, _SAMPLE)

    def on_burst(self, t: int, _: object) -> None:
        p, rng = self.p, self.rng_bursts
        arch = rng.choice(self.arches)
        lo, hi = p.burst_hours
        self.burst_until[arch] = t + int(rng.uniform(lo, hi) * HOUR)
        self.push(t + rng.expovariate(1.0 / (p.burst_every_days * DAY)), _BURST)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit = math.exp(-lam)
    k = 0
    prod = rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k
