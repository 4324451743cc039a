"""JSONL -> Parquet ingest throughput, beside a baseline measured in the same run.

    .venv/bin/python benchmarks/ingest.py [--days 20] [--repeat 3]

pkgflow's figure includes everything `pkgflow ingest` does: parsing, validation,
deduplication against the store, sequence numbers, fsynced atomic files.
The baseline is the bare minimum: `pyarrow.json.read_json` + `pyarrow.dataset.write_dataset`
into the same date partitions (no validation, no dedupe, no fsync).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.json as pj

from pkgflow.config import DEFAULT_STORE
from pkgflow.events.schema import EVENT_SCHEMA
from pkgflow.ingest import ingest_jsonl
from pkgflow.simulate import simulate
from pkgflow.store import EventStore


def simulated_jsonl(days: int, seed: int = 1) -> Path:
    """A cached JSONL file of simulated events (written once per size), as an emitter
    would send them: absent fields left out rather than sent as null."""
    path = DEFAULT_STORE / "bench" / f"ingest-{days}d-seed{seed}-v2.jsonl"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as handle:
        for batch in simulate(days=days, seed=seed):
            events = batch.events.with_columns(
                pl.col("occurred_at", "occurred_after").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
            )
            for row in events.iter_rows(named=True):
                line = json.dumps({k: v for k, v in row.items() if v is not None})
                handle.write(line.encode() + b"\n")
    tmp.rename(path)
    return path


def run_pkgflow(source: Path, workdir: Path) -> tuple[float, int]:
    store = EventStore(workdir / "store")
    started = time.perf_counter()
    report = ingest_jsonl(store, [source])
    seconds = time.perf_counter() - started
    assert report.rejected == 0, report.first_rejections
    return seconds, report.accepted


def run_baseline(source: Path, workdir: Path) -> tuple[float, int]:
    started = time.perf_counter()
    # an explicit schema, or pyarrow guesses timestamps inside version lists
    schema = pa.schema(
        [
            (f.name, pa.int64() if pa.types.is_integer(f.type) else
             f.type if pa.types.is_list(f.type) else pa.string())
            for f in EVENT_SCHEMA if f.name not in ("seq", "recorded_at")
        ]
    )
    table = pj.read_json(source, parse_options=pj.ParseOptions(explicit_schema=schema))
    occurred = pc.strptime(
        pc.utf8_slice_codeunits(table["occurred_at"], 0, 10), format="%Y-%m-%d", unit="s"
    )
    table = table.append_column("date", pc.strftime(occurred, format="%Y-%m-%d"))
    ds.write_dataset(
        table,
        workdir / "baseline",
        format="parquet",
        partitioning=["date"],
        partitioning_flavor="hive",
        file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"),
        existing_data_behavior="overwrite_or_ignore",
    )
    return time.perf_counter() - started, table.num_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=20, help="simulated days in the input")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the median counts")
    args = parser.parse_args()

    source = simulated_jsonl(args.days)
    size_mb = source.stat().st_size / 1e6
    load_before = os.getloadavg()
    results: dict[str, list[float]] = {"pkgflow ingest": [], "baseline (pyarrow json+dataset)": []}
    events = 0
    for _ in range(args.repeat):
        for name, runner in (("pkgflow ingest", run_pkgflow), ("baseline (pyarrow json+dataset)", run_baseline)):
            workdir = Path(tempfile.mkdtemp(dir=DEFAULT_STORE / "bench"))
            try:
                seconds, events = runner(source, workdir)
            finally:
                shutil.rmtree(workdir)
            results[name].append(seconds)
    print(f"input: {source.name}, {events:,} events, {size_mb:.0f} MB; {os.cpu_count()} cores, "
          f"load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after")
    rates = {}
    for name, times in results.items():
        median = statistics.median(times)
        rates[name] = events / median
        runs = " ".join(f"{t:.2f}" for t in times)
        print(f"{name:34s} median {median:6.2f} s  {rates[name]:>12,.0f} events/s  (runs {runs} s)")
    ours, base = rates["pkgflow ingest"], rates["baseline (pyarrow json+dataset)"]
    print(f"pkgflow / baseline: {ours / base:.2f}x   target: >= 300,000 events/s "
          f"({'met' if ours >= 300_000 else 'NOT met'})")


if __name__ == "__main__":
    main()
