"""Every tunable of the simulator, in one place (see ``docs/simulator.md``).

Numbers marked *estimate* are not published anywhere: they were chosen so that the
simulated magnitudes match ``domain.md`` section 6 (runs per day, fan-out
percentiles, ~200 workers, durations of minutes to hours). Numbers marked *domain*
come straight from ``domain.md``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

#: Architectures tested by default (riscv64 is opt-in: ``SimParams.riscv64``).
MAIN_ARCHES: tuple[str, ...] = ("amd64", "arm64", "armhf", "ppc64el", "s390x")


def _d(**values: Any) -> Any:
    return field(default_factory=lambda: dict(values))


@dataclass(frozen=True)
class SimParams:
    """Tunables of :func:`pkgflow.simulate.simulate`. All rates are at ``scale=1``."""

    # -- uploads -------------------------------------------------------------------
    #: mean uploads per day, averaged over a week (estimate, tuned so that a month has
    #: ~5,000-9,000 finished runs a day, domain section 6)
    uploads_per_day: float = 145.0
    #: arrival-rate multiplier during office hours, UTC (estimate)
    office_hours: tuple[int, int] = (7, 19)
    office_factor: float = 1.6
    #: multiplier outside office hours (estimate)
    night_factor: float = 0.5
    #: multiplier on Saturday and Sunday (estimate)
    weekend_factor: float = 0.4
    #: size of the source-package universe (estimate; multiplied by scale when > 1)
    n_packages: int = 8000
    #: spread of per-package upload popularity, lognormal sigma (estimate)
    upload_popularity_sigma: float = 0.8
    #: share of packages in main (the rest: universe) (estimate)
    p_main: float = 0.2

    # -- reverse-dependency fan-out (test packages per upload) ----------------------
    #: share of packages whose upload triggers no test at all (domain: "about half")
    p_no_tests: float = 0.53
    #: tail exponent of the discrete Pareto fan-out for the others: P(K >= k) = k^-alpha.
    #: 0.9 gives median 1 and p90 ~8 over all uploads (domain) (estimate)
    fanout_alpha: float = 0.9
    #: cap of drawn fan-outs (domain: sphinx 1,340)
    fanout_max: int = 1300
    #: named giants and their fan-out (domain section 6)
    giants: tuple[tuple[str, int], ...] = (
        ("sphinx", 1340),
        ("build-essential", 795),
        ("systemd", 277),
        ("python3.13", 113),
    )
    #: share of packages that have autopkgtests of their own (estimate)
    p_testable: float = 0.45
    #: share of test packages also tested on i386 (estimate)
    p_i386: float = 0.3
    #: a trigger with more test packages than this goes to the `huge` queue (domain)
    huge_threshold: int = 20

    # -- builds ----------------------------------------------------------------------
    #: median build time, seconds, lognormal (estimate)
    build_median_s: float = 2400.0
    build_sigma: float = 0.9
    build_arch_factor: dict[str, float] = _d(armhf=1.6, riscv64=4.0)
    #: chance one arch's build is late (x8 its time) (estimate)
    p_build_late: float = 0.06
    #: chance an upload fails to build on one arch (stays missing) (estimate)
    p_ftbfs: float = 0.03

    # -- workers and tests -------------------------------------------------------------
    #: enable riscv64 testing (stopped in mid-2026, domain)
    riscv64: bool = False
    #: workers per arch; ~200 in total (domain: ~100 hosts x 2) (split is an estimate)
    workers: dict[str, int] = _d(
        amd64=40, arm64=36, armhf=44, ppc64el=30, s390x=30, i386=20, riscv64=20
    )
    #: testbed setup per run: the worker is busy, the test is not yet started (estimate)
    setup_s: float = 150.0
    #: median test duration over packages, seconds (estimate)
    duration_median_s: float = 420.0
    #: per-package spread of median durations, lognormal sigma (estimate)
    duration_pkg_sigma: float = 1.1
    #: run-to-run spread of one package's duration, lognormal sigma (estimate)
    duration_run_sigma: float = 0.3
    #: per-arch duration factors: armhf, riscv64 slower (domain) (values estimates)
    duration_arch_factor: dict[str, float] = _d(
        amd64=1.0, arm64=1.1, armhf=2.0, ppc64el=1.15, s390x=1.1, i386=0.9, riscv64=3.5
    )
    #: worker timeout, seconds (domain: 10,000)
    duration_cap_s: int = 10_000

    # -- outcomes ----------------------------------------------------------------------
    #: baseline tmpfail (exit 16) probability per run (estimate)
    p_tmpfail: float = 0.01
    #: mean days between tmpfail bursts (one arch at a time) (estimate)
    burst_every_days: float = 4.0
    #: burst length range, hours (estimate)
    burst_hours: tuple[float, float] = (1.0, 6.0)
    #: tmpfail probability on the arch during a burst (estimate)
    burst_p_tmpfail: float = 0.6
    #: probability of an unexpected error (exit 20) (estimate)
    p_error: float = 0.004
    #: flaky-failure probability per run: (share of packages, probability) (estimate)
    flaky: tuple[tuple[float, float], ...] = ((0.70, 0.01), (0.25, 0.05), (0.05, 0.3))
    #: share of test packages that always fail on one arch (ALWAYSFAIL) (estimate)
    p_arch_broken: float = 0.05
    #: share of test packages whose tests are all skipped (exit 8, NEUTRAL) (estimate)
    p_neutral_pkg: float = 0.03
    #: share of uploads that really break some reverse dependencies (estimate)
    p_breaking_upload: float = 0.08
    #: when an upload breaks, share of its test packages that fail (estimate)
    p_break_rdep: float = 0.25
    #: prior that a test package passed on an arch before the window (estimate)
    p_ever_passed: float = 0.85
    #: pass exit code 2 (skipped some) instead of 0 (estimate)
    p_pass_skipped: float = 0.2
    #: fail exit codes and their weights (estimate)
    fail_exitcodes: tuple[tuple[int, int], ...] = ((4, 70), (6, 15), (12, 10), (14, 5))

    # -- britney -------------------------------------------------------------------------
    #: seconds between britney runs, and +/- uniform jitter (domain: every 2-3 h)
    britney_interval_s: float = 3 * 3600.0
    britney_jitter_s: float = 1800.0
    #: britney re-requests tmpfails up to this many times (estimate)
    max_retries: int = 3
    #: chance a request is filtered out of the queue by the janitor (test.dropped) (estimate)
    p_drop: float = 0.002
    #: chance a new upload depends on another item in -proposed (blocked_by) (estimate)
    p_blocked: float = 0.06
    #: chance a PASS item fails to migrate this run and waits for the next (estimate)
    p_migration_deferred: float = 0.05
    #: what happens to an upload with a regression, probabilities (estimate):
    #: a human retries the failed tests, a fixed version is uploaded, a force-badtest hint
    #: is added, the upload is removed; the rest stay stuck
    regression_fate: dict[str, float] = _d(retry=0.3, supersede=0.35, hint=0.15, remove=0.04)
    #: mean delay of each fate, hours (estimate)
    regression_fate_hours: dict[str, float] = _d(retry=10.0, supersede=60.0, hint=40.0, remove=240.0)
    #: the rest stay stuck until removed, after this mean delay in days (estimate; real
    #: survivors in -proposed: median 19.5 days, p90 134, domain)
    stuck_remove_days: float = 90.0
    #: an upload failing to build on one arch is fixed by a new version with this chance,
    #: after a mean delay in hours, else stuck (estimate)
    p_ftbfs_fixed: float = 0.8
    ftbfs_fix_hours: float = 72.0
    #: people who retry tests by hand (the `requester` field; made-up names)
    requesters: tuple[str, ...] = ("dev-ada", "dev-bo", "dev-cyd", "dev-dan", "dev-eva", "dev-fin")
    maintainers: tuple[str, ...] = (
        "Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>",
        "Debian Python Team <team+python@tracker.debian.org>",
        "Debian Perl Group <pkg-perl-maintainers@lists.alioth.debian.org>",
        "Ubuntu Kernel Team <kernel-team@lists.ubuntu.com>",
        "Debian Go Packaging Team <team+pkg-go@tracker.debian.org>",
    )

    # -- observation -----------------------------------------------------------------------
    #: seconds between queue depth samples (queued.json is refreshed ~20 s; we keep 5 min)
    sample_interval_s: int = 300

    def arches(self) -> tuple[str, ...]:
        """Tested architectures, in a fixed order."""
        return (*MAIN_ARCHES, "i386", *(("riscv64",) if self.riscv64 else ()))

    def __hash__(self) -> int:  # the dict fields are not hashable; their repr is stable
        return hash(repr(self))

    def digest(self) -> str:
        """A short stable fingerprint of these parameters (part of every event id)."""
        return hashlib.sha1(repr(self).encode()).hexdigest()[:12]
