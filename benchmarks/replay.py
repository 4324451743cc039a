"""Rebuild the replay projections from a ~10 M-event simulated store, against the
pure-Python fold (tests/replay/oracle.py) measured in the same run.

    .venv/bin/python benchmarks/replay.py [--days 49 --scale 7 --seed 1] [--repeat 3]

The store is simulated once into data/bench/replay-sim-<days>d-seed<seed>-x<scale>/
(about 2 minutes), compacted as `pkgflow compact` leaves a kept store, and reused
once complete (an interrupted simulation is finished on the next run: ids are
deterministic). Each SQL rebuild runs in a fresh process (its own peak
RSS); the figure is the median of ``--repeat`` runs. The fold is timed on the first
days of the same store (``--fold-events``, default 400,000 events: a full fold would
take minutes) and scaled linearly to the whole store; both its pure fold time and its
time including reading the Parquet rows into Python are reported. On that same
prefix, the fold and the views are checked to agree on the number of runs, uploads
and things in flight.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 2.0
TARGET_SPEEDUP = 20.0
TARGET_RSS_MB = 2048

FOLD_COLUMNS = [
    "event_type", "occurred_at", "seq", "release", "package", "version", "arches",
    "testsrc", "arch", "triggers", "queue", "requester", "run_id", "test_version",
    "exitcode", "outcome", "duration", "worker", "status", "verdict", "reasons",
    "blocked_by", "detail",
]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ensure_store(days: int, seed: int, scale: float) -> Path:
    """The cached simulated store (simulated now when absent)."""
    from pkgflow.simulate import simulate_into
    from pkgflow.store import EventStore

    root = ROOT / "data" / "bench" / f"replay-sim-{days}d-seed{seed}-x{scale:g}"
    store = EventStore(root)
    complete = root / "_meta" / "bench-complete"  # an interrupted run must not count
    if complete.exists():
        store.compact()  # a no-op once compacted; brings an older cache up to the layout
        return root
    print(f"simulating {days} days at scale {scale:g} into {root} (once)...", flush=True)
    started = time.perf_counter()

    def tick(done: int, events: int, rate: float) -> None:
        print(f"  day {done}/{days}: {events:,} events ({rate:,.0f}/s)", end="\r", flush=True)

    result = simulate_into(store, days=days, seed=seed, scale=scale, progress=tick)
    print(f"\n  {result.accepted:,} events in {time.perf_counter() - started:.0f} s", flush=True)
    # measured on the layout a kept store has: closed days compacted (`pkgflow compact`)
    started = time.perf_counter()
    store.compact()
    print(f"  compacted in {time.perf_counter() - started:.0f} s", flush=True)
    complete.touch()
    return root


def child_sql(root: str) -> None:
    """One full rebuild in this (fresh) process; prints a JSON line."""
    from pkgflow.replay import connect

    steps: dict[str, float] = {}
    rss: dict[str, float] = {}

    def tick(name: str, secs: float) -> None:
        steps[name] = secs
        status = Path("/proc/self/status").read_text()
        rss[name] = int(status.split("VmRSS:")[1].split()[0]) / 1024

    started = time.perf_counter()
    con = connect(root, materialize=True, progress=tick, memory_limit=os.environ.get("PKGFLOW_BENCH_MEMORY_LIMIT"))
    total = time.perf_counter() - started
    steps = {"connect": total - sum(steps.values()), **steps}
    counts = {
        name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]  # type: ignore[index]
        for name in ("test_runs", "uploads", "in_flight")
    }
    print(json.dumps({"total": total, "steps": steps, "counts": counts,
                      "rss_mb": _peak_rss_mb(), "rss_after": rss}))


def child_fold(root: str, fold_events: int) -> None:
    """Fold the first days of the store (at least ``fold_events`` events) in Python."""
    import polars as pl

    from pkgflow.replay import connect
    from pkgflow.store import EventStore
    from tests.replay.oracle import fold

    store = EventStore(root)
    files, days, count = [], 0, 0
    for path in store.files("events"):
        if count >= fold_events and path.parent.name != files[-1].parent.name:
            break
        files.append(path)
        count = pl.scan_parquet([str(p) for p in files]).select(pl.len()).collect().item()
        days = len({p.parent.name for p in files})
    started = time.perf_counter()
    frame = pl.scan_parquet([str(p) for p in files]).select(FOLD_COLUMNS).collect()
    events = frame.to_dicts()
    read = time.perf_counter() - started
    started = time.perf_counter()
    model = fold(events)
    folded = time.perf_counter() - started
    # the views over the same prefix must find the same things
    last_day = files[-1].parent.name.removeprefix("date=")
    con = connect(root, as_of=model.clock)
    sql = {
        name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]  # type: ignore[index]
        for name in ("test_runs", "uploads", "in_flight")
    }
    oracle = {
        "test_runs": len(model.runs),
        "uploads": len(model.uploads),
        "in_flight": len(model.in_flight_tests) + len(model.in_flight_uploads),
    }
    print(json.dumps({"events": len(events), "days": days, "last_day": last_day,
                      "read": read, "fold": folded, "sql_counts": sql,
                      "oracle_counts": oracle, "rss_mb": _peak_rss_mb()}))


def _child(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        sys.exit(f"child {args[:2]} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=49)
    parser.add_argument("--scale", type=float, default=7.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fold-events", type=int, default=400_000)
    parser.add_argument("--child", choices=["sql", "fold"], help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "sql":
        return child_sql(args.root)
    if args.child == "fold":
        return child_fold(args.root, args.fold_events)

    from pkgflow.store import EventStore

    root = ensure_store(args.days, args.seed, args.scale)
    store = EventStore(root)
    events = store.count("events")
    size = sum(p.stat().st_size for p in store.files("events")) / 1e6
    print(f"store: {root} ({events:,} events, {len(store.files('events'))} files, "
          f"{size:,.0f} MB); {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")

    runs = [_child("--child", "sql", "--root", str(root)) for _ in range(args.repeat)]
    totals = [r["total"] for r in runs]
    median = statistics.median(totals)
    best = runs[totals.index(median)]
    print(f"\nSQL rebuild (materialised tables), median of {args.repeat}: {median:.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in totals)}), "
          f"{events / median / 1e6:.2f} M events/s overall")
    cumulative = 0.0
    for name, secs in best["steps"].items():
        cumulative += secs
        line = f"  {name:16s} {secs:6.2f} s"
        if name in ("test_runs", "uploads", "in_flight"):
            rows = best["counts"][name]
            line += (f"  {rows:>10,} rows   cumulative {cumulative:5.2f} s "
                     f"= {events / cumulative / 1e6:5.2f} M events/s")
        print(line)
    rss = max(r["rss_mb"] for r in runs)

    fold = _child("--child", "fold", "--root", str(root), "--fold-events", str(args.fold_events))
    fold_rate = fold["events"] / fold["fold"]
    read_fold_rate = fold["events"] / (fold["fold"] + fold["read"])
    projected = events / fold_rate
    projected_with_read = events / read_fold_rate
    print(f"\nPython fold on the first {fold['days']} days ({fold['events']:,} events, up to "
          f"{fold['last_day']}): fold {fold['fold']:.2f} s = {fold_rate / 1e6:.3f} M events/s; "
          f"with reading Parquet rows into Python {fold['fold'] + fold['read']:.2f} s = "
          f"{read_fold_rate / 1e6:.3f} M events/s")
    print(f"  scaled to {events:,} events: fold {projected:.0f} s, read + fold "
          f"{projected_with_read:.0f} s")
    agree = fold["sql_counts"] == fold["oracle_counts"]
    print(f"  same prefix, views vs fold: {fold['sql_counts']} vs {fold['oracle_counts']}: "
          f"{'agree' if agree else 'DISAGREE'}")

    speedup = projected / median
    print("\ntargets:")
    print(f"  rebuild <= {TARGET_SECONDS:.0f} s:        {median:.2f} s  "
          f"{'ok' if median <= TARGET_SECONDS else 'MISSED'}")
    print(f"  >= {TARGET_SPEEDUP:.0f}x the fold:       {speedup:.1f}x (fold only), "
          f"{projected_with_read / median:.1f}x (read + fold)  "
          f"{'ok' if speedup >= TARGET_SPEEDUP else 'MISSED'}")
    print(f"  peak RSS < {TARGET_RSS_MB} MB:    {rss:,.0f} MB  "
          f"{'ok' if rss < TARGET_RSS_MB else 'MISSED'}")
    if not agree:
        sys.exit(1)


if __name__ == "__main__":
    main()
