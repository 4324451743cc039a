"""The ``pkgflow`` command: thin. Each command parses its options, calls one library
function and prints; a :class:`~pkgflow.errors.PkgflowError` becomes a one-line
message and exit status 1, never a traceback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pkgflow.errors import PkgflowError
from pkgflow.ingest.importers import ImportResult
from pkgflow.store import EventStore

# Piped output (CI, `| less`) gets wide tables instead of rich's 80-column default.
_WIDTH = None if sys.stdout.isatty() else 160
out = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)

Command = Callable[[argparse.Namespace], int]


def _store(args: argparse.Namespace) -> EventStore:
    return EventStore(args.store)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


# -- simulate ---------------------------------------------------------------


def cmd_simulate(args: argparse.Namespace) -> int:
    from pkgflow.simulate import simulate_into

    store = _store(args)
    with _progress() as bar:
        task = bar.add_task("simulating", total=args.days, status="")

        def tick(days_done: int, events: int, rate: float) -> None:
            bar.update(task, completed=days_done, status=f"{events:,} events, {rate:,.0f}/s")

        result = simulate_into(
            store, days=args.days, seed=args.seed, scale=args.scale, start=args.start, progress=tick
        )
    out.print(
        f"simulated {args.days} days (seed {args.seed}, scale {args.scale}): "
        f"{result.accepted:,} new events, {result.duplicates:,} already stored, "
        f"{result.samples:,} queue samples -> {store.root}"
    )
    return 0


# -- ingest -----------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace) -> int:
    from pkgflow.ingest import IngestReport, ingest_jsonl

    store = _store(args)
    with _progress() as bar:
        task = bar.add_task("ingesting", total=None, status="")

        def tick(report: IngestReport) -> None:
            bar.update(
                task,
                status=f"{report.lines:,} lines, {report.rate:,.0f}/s, "
                f"{report.accepted:,} new, {report.rejected:,} rejected",
            )

        report = ingest_jsonl(store, args.files, batch_bytes=args.batch_bytes, progress=tick)
    out.print(
        f"{report.lines:,} lines in {report.seconds:.1f} s ({report.rate:,.0f}/s): "
        f"{report.accepted:,} stored, {report.duplicates:,} duplicates, "
        f"{report.rejected:,} rejected"
    )
    if report.rejected:
        for origin, rejection in report.first_rejections:
            err.print(f"  {origin}:{rejection.line_number}: {rejection.reason}", markup=False)
        more = report.rejected - len(report.first_rejections)
        if more:
            err.print(f"  ... and {more:,} more")
        err.print(f"rejected lines and reasons kept in {report.quarantine}")
        if args.strict:
            err.print("--strict: failing because lines were rejected")
            return 1
    return 0


# -- import -------------------------------------------------------------------


def _print_import(result: ImportResult) -> None:
    for line in result.report.lines():
        out.print(line, markup=False)
    stored = result.stored
    out.print(f"stored {stored.accepted:,} new events ({stored.duplicates:,} already stored)")
    if result.samples.accepted or result.samples.duplicates:
        out.print(f"stored {result.samples.accepted:,} queue-depth samples")


def cmd_import(args: argparse.Namespace) -> int:
    from pkgflow.ingest import importers

    store = _store(args)
    if args.kind in ("queue-snapshot", "running-snapshot"):
        run = (
            importers.import_queue_snapshot
            if args.kind == "queue-snapshot"
            else importers.import_running_snapshot
        )
        _print_import(run(store, args.file, args.observed_at))
        return 0
    with _progress() as bar:
        task = bar.add_task(f"importing {args.kind}", total=None, status="")

        def tick(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total, status=f"{done:,} of {total or '?'}")

        if args.kind == "excuses":
            result = importers.import_excuses(
                store,
                args.files,
                in_flight=not args.no_in_flight,
                release=args.release,
                progress=tick,
            )
        else:
            result = importers.import_autopkgtest_db(store, args.file, progress=tick)
    _print_import(result)
    return 0


# -- maintenance --------------------------------------------------------------


def cmd_compact(args: argparse.Namespace) -> int:
    store = _store(args)
    before = args.before or datetime.now(UTC).date()
    with _progress() as bar:
        task = bar.add_task("compacting", total=None, status="")

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, status=f"{done:,}/{total:,} partitions")

        result = store.compact(before=before, progress=tick)
    out.print(
        f"compacted {len(result.partitions)} partitions before {before}: "
        f"{result.files_before} files -> {result.files_after}, "
        f"{result.duplicates_dropped} duplicate events dropped"
    )
    return 0


def cmd_retain(args: argparse.Namespace) -> int:
    store = _store(args)
    folders = store.retention_candidates(args.keep_days, today=args.today)
    if not folders:
        out.print(f"nothing older than {args.keep_days} days")
        return 0
    verb = "dropping" if args.apply else "would drop"
    for folder in folders:
        out.print(f"{verb} {folder.parent.name}/{folder.name}")
    if args.apply:
        store.drop_partitions(folders)
        out.print(f"dropped {len(folders)} partitions")
    else:
        out.print(f"dry run: {len(folders)} partitions; add --apply to drop them")
    return 0


# -- live ingestion (pkgflow.serve) ----------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from pkgflow.serve.app import ServeSettings
    from pkgflow.serve.server import run_server

    settings = ServeSettings(
        max_body_bytes=args.max_body_bytes,
        max_inflight_bytes=args.max_inflight_bytes,
        max_inflight_requests=args.max_inflight_requests,
    )
    run_server(
        _store(args),
        host=args.host,
        port=args.port,
        token=args.token,
        wal_name=args.wal_name,
        settings=settings,
        flush_interval=args.flush_interval,
        max_wal_bytes=args.max_wal_bytes,
    )
    return 0


def cmd_consume(args: argparse.Namespace) -> int:
    from pkgflow.serve.amqp import ConsumerSettings, run_consumer

    settings = ConsumerSettings(
        url=args.url,
        queues=args.queue or [],
        exchanges=args.exchange or [],
        prefetch=args.prefetch,
        dead_letter_queue=args.dead_letter_queue,
        declare=args.declare,
        flush_interval=args.flush_interval,
    )
    run_consumer(_store(args), settings, wal_name=args.wal_name)
    return 0


# -- replay: status and ad-hoc SQL -----------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    from pkgflow.replay.status import render_status, store_status

    data = store_status(_store(args), args.release, args.source, args.as_of, args.days, args.limit)
    if args.json:
        import json

        print(json.dumps(data, indent=2))
    else:
        render_status(data, out)
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    from pkgflow.replay import connect
    from pkgflow.replay.query import (
        check_output, emit, lock_down, run_query, views_needed, write_result,
    )

    fmt = "csv" if args.format == "table" and args.out is not None else args.format
    if fmt != "table":
        check_output(fmt, args.out)  # before the views are built
    needed = views_needed(args.query)
    con = connect(_store(args), as_of=args.as_of, days=args.days, materialize=needed or False)
    lock_down(con)
    frame = run_query(con, args.query)
    if fmt == "table":
        table = Table(*frame.columns, title=f"{frame.height:,} rows")
        for row in frame.head(args.max_rows).iter_rows():
            table.add_row(*("NULL" if v is None else str(v) for v in row))
        out.print(table)
        if frame.height > args.max_rows:
            out.print(f"... {frame.height - args.max_rows:,} more rows (use --format csv)")
        return 0
    data = write_result(frame, fmt, args.out)
    if data is not None:
        emit(data)
    else:
        err.print(f"{frame.height:,} rows -> {args.out}", markup=False)
    return 0


# -- summary / demo -------------------------------------------------------------


def print_inventory(store: EventStore) -> None:
    """The short 'what pkgflow found' summary."""
    from pkgflow.store.inventory import inventory

    found = inventory(store)
    if not found.events:
        out.print(f"the store at {store.root} is empty; try `pkgflow simulate --days 30`")
        return
    out.print(
        f"[bold]{store.root}[/bold]: {found.events:,} events from {found.first_day} to "
        f"{found.last_day} ({', '.join(found.releases)}), {found.samples:,} queue samples, "
        f"{found.files} files, {found.bytes / 1e6:.1f} MB"
    )
    table = Table("event type", "events", title="events by type")
    for name, count in found.by_type.items():
        table.add_row(name, f"{count:,}")
    out.print(table)


def cmd_info(args: argparse.Namespace) -> int:
    print_inventory(_store(args))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pkgflow.replay.status import render_status, store_status

    cmd_simulate(args)
    store = _store(args)
    print_inventory(store)
    render_status(store_status(store, limit=10), out)
    print_weekly_report(store)
    return 0


# -- reports --------------------------------------------------------------------


def print_weekly_report(
    store: EventStore,
    week: str | None = None,
    release: str | None = None,
    out_dir: Path | None = None,
) -> None:
    """Execute the weekly report notebook and print where the HTML went."""
    from pkgflow.report import weekly_report

    with _progress() as bar:
        bar.add_task("executing the weekly report notebook", total=None, status="")
        result = weekly_report(store.root, week=week, release=release, out=out_dir)
    out.print(f"weekly report {result.week} ({result.seconds:.1f} s): {result.path}", markup=False)


def cmd_report(args: argparse.Namespace) -> int:
    print_weekly_report(_store(args), args.week, args.release, args.out)
    return 0


# -- parser -----------------------------------------------------------------------


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        msg = f"not a date: {text!r} (use YYYY-MM-DD)"
        raise argparse.ArgumentTypeError(msg) from exc


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        msg = f"not a timestamp: {text!r} (use ISO 8601 with a zone, e.g. 2025-03-14T21:47:00Z)"
        raise argparse.ArgumentTypeError(msg) from exc
    if moment.tzinfo is None:
        msg = f"{text!r} has no time zone; add Z for UTC or an offset"
        raise argparse.ArgumentTypeError(msg)
    return moment.astimezone(UTC)


def _start(text: str) -> datetime:
    return datetime.combine(_date(text), datetime.min.time(), tzinfo=UTC)


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        msg = f"must be a positive number (got {text})"
        raise argparse.ArgumentTypeError(msg)
    return value


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        msg = f"must be a positive number of seconds (got {text})"
        raise argparse.ArgumentTypeError(msg)
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        msg = f"a TCP port is 1-65535 (got {text})"
        raise argparse.ArgumentTypeError(msg)
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (also used by the docs test)."""
    parser = argparse.ArgumentParser(
        prog="pkgflow",
        description="Observe Ubuntu's proposed-migration pipeline: where does the time go?",
    )
    parser.add_argument(
        "--store",
        default=None,
        help="store folder (default: $PKGFLOW_STORE, else data/ in the checkout)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(func=func)
        return command

    def simulation_options(command: argparse.ArgumentParser, days: int) -> None:
        command.add_argument("--days", type=_positive, default=days, help="days to simulate")
        command.add_argument("--seed", type=int, default=1, help="random seed (deterministic)")
        command.add_argument(
            "--scale", type=float, default=1.0, help="multiply upload arrivals (and workers)"
        )
        command.add_argument(
            "--start", type=_start, default=None, help="first simulated day, YYYY-MM-DD"
        )

    simulation_options(
        add("simulate", cmd_simulate, "simulate proposed-migration traffic into the store"), 30
    )
    demo = add(
        "demo",
        cmd_demo,
        "the main job on the embedded default: simulate a month into the store and show "
        "what pkgflow finds",
    )
    simulation_options(demo, 30)

    ingest = add("ingest", cmd_ingest, "append events from JSON Lines files (.gz/.xz, - for stdin)")
    ingest.add_argument("files", nargs="+", help="JSON Lines files, or - for stdin")
    ingest.add_argument(
        "--strict", action="store_true", help="exit with status 1 if any line was rejected"
    )
    ingest.add_argument(
        "--batch-bytes",
        type=_positive,
        default=32 * 1024 * 1024,
        help="bytes of input per write batch (default 32 MiB, about 100,000 events)",
    )

    importer = add("import", cmd_import, "import real data: britney excuses, results DB, queue snapshots")
    kinds = importer.add_subparsers(dest="kind", metavar="KIND", required=True)
    excuses = kinds.add_parser(
        "excuses",
        help="update_excuses.yaml snapshots (plain or .xz), in any order",
        description="Import britney update_excuses.yaml snapshots: uploads, per-arch results "
        "with exact finish times, running tests, verdicts; and the transitions between "
        "successive snapshots (time bounded by the two).",
    )
    excuses.add_argument("files", nargs="+", type=Path, help="update_excuses.yaml[.xz] files")
    excuses.add_argument(
        "--release", help="the release, when neither log URLs nor the file name tell it"
    )
    excuses.add_argument(
        "--no-in-flight",
        action="store_true",
        help="skip requests of tests shown as running (when queued.json history covers them)",
    )
    database = kinds.add_parser(
        "autopkgtest-db",
        help="the autopkgtest results database (SQLite)",
        description="Import autopkgtest.db (test + result tables) as test.finished events.",
    )
    database.add_argument("file", type=Path, help="autopkgtest.db")
    for kind, what in (("queue-snapshot", "queued.json"), ("running-snapshot", "running.json")):
        snapshot = kinds.add_parser(
            kind,
            help=f"one {what} observed at a known time",
            description=f"Import one {what} as first sightings"
            + (" plus queue-depth samples." if kind == "queue-snapshot" else "."),
        )
        snapshot.add_argument("file", type=Path, help=what)
        snapshot.add_argument(
            "--observed-at",
            type=_moment,
            required=True,
            help="when the snapshot was taken, ISO 8601 with a zone (e.g. 2025-03-14T21:47:00Z)",
        )

    add("info", cmd_info, "summarise what the store holds")

    status = add(
        "status",
        cmd_status,
        "what is in flight and where: uploads, running and queued tests, latest results",
    )
    status.add_argument("--release", default=None, help="only this release")
    status.add_argument(
        "--source", default=None, help="only this source package (its uploads, tests, triggers)"
    )
    status.add_argument(
        "--as-of", default=None, help="as it was then (ISO 8601, e.g. 2025-03-14T12:00:00Z)"
    )
    status.add_argument("--days", type=float, default=None, help="only the last N days of events")
    status.add_argument("--limit", type=_positive, default=10, help="rows per section")
    status.add_argument("--json", action="store_true", help="print the data as JSON")

    sql = add(
        "sql",
        cmd_sql,
        "read-only SQL over the views (events, test_runs, uploads, in_flight, "
        "stage_intervals, queue_depth); see docs/queries.md",
    )
    sql.add_argument("query", help='one SELECT/WITH/DESCRIBE/SUMMARIZE/EXPLAIN statement')
    sql.add_argument(
        "--format", choices=["table", "csv", "json", "parquet"], default="table",
        help="output format (default: table; parquet needs --out)",
    )
    sql.add_argument("--out", type=Path, default=None, help="write the result to this file")
    sql.add_argument(
        "--as-of", default=None, help="query the views as of this time (ISO 8601)"
    )
    sql.add_argument("--days", type=float, default=None, help="only the last N days of events")
    sql.add_argument(
        "--max-rows", type=_positive, default=100, help="rows shown by --format table"
    )

    report = add("report", cmd_report, "produce a report as one self-contained HTML file")
    report_kinds = report.add_subparsers(dest="kind", metavar="KIND", required=True)
    weekly = report_kinds.add_parser(
        "weekly",
        help="the weekly report (runs notebooks/weekly_report.ipynb, exports HTML)",
        description="Execute notebooks/weekly_report.ipynb with papermill for one ISO week and "
        "export it to one HTML file without code, whose charts render with no network.",
    )
    weekly.add_argument(
        "--week", default=None, help="ISO week, e.g. 2025-W11 (default: the last complete week)"
    )
    weekly.add_argument("--release", default=None, help="only this release (default: all)")
    weekly.add_argument(
        "--out", type=Path, default=None, help="output folder (default: <store>/reports)"
    )

    compact = add(
        "compact", cmd_compact, "rewrite closed partitions as one sorted file each (deduplicating)"
    )
    compact.add_argument(
        "--before", type=_date, default=None, help="compact partitions before this date (default: today UTC)"
    )

    serve = add("serve", cmd_serve, "HTTP service: POST /v1/events (durable acks), status, metrics")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (non-loopback needs --token)")
    serve.add_argument("--port", type=_port, default=8080, help="TCP port")
    serve.add_argument("--token", default=None, help="bearer token required on POST (or $PKGFLOW_TOKEN)")
    serve.add_argument("--wal-name", default=None, help="WAL folder under <store>/_wal (default http-<port>)")
    serve.add_argument("--flush-interval", type=_positive_seconds, default=1.0, help="seconds between WAL flushes to the store")
    serve.add_argument("--max-body-bytes", type=_positive, default=8 * 1024 * 1024, help="413 above this")
    serve.add_argument("--max-inflight-bytes", type=_positive, default=128 * 1024 * 1024, help="429 above this")
    serve.add_argument("--max-inflight-requests", type=_positive, default=256, help="503 above this")
    serve.add_argument("--max-wal-bytes", type=_positive, default=1024**3, help="503 while the unflushed WAL is larger")

    consume = add("consume", cmd_consume, "consume RabbitMQ queues (pkgflow events, autopkgtest messages)")
    consume.add_argument("url", help="AMQP URL, e.g. amqp://guest:guest@127.0.0.1:5672/")
    consume.add_argument("--queue", action="append", help="queue to consume (repeatable), e.g. debci-plucky-amd64")
    consume.add_argument(
        "--exchange", action="append", help="fanout exchange to bind a pkgflow queue to (e.g. testcomplete.fanout)"
    )
    consume.add_argument("--prefetch", type=_positive, default=500, help="unacknowledged messages at most")
    consume.add_argument("--dead-letter-queue", default="pkgflow.dead-letter", help="where malformed messages go")
    consume.add_argument("--declare", action="store_true", help="declare the --queue queues (durable) if missing")
    consume.add_argument("--wal-name", default=None, help="WAL folder under <store>/_wal (default amqp-<hash>)")
    consume.add_argument("--flush-interval", type=_positive_seconds, default=1.0, help="seconds between WAL flushes to the store")

    retain = add("retain", cmd_retain, "drop whole partitions older than N days (dry run by default)")
    retain.add_argument("--keep-days", type=int, required=True, help="days of history to keep")
    retain.add_argument("--apply", action="store_true", help="really drop them")
    retain.add_argument(
        "--today", type=_date, default=None, help="judge age from this date (default: today UTC)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pkgflow`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except PkgflowError as exc:
        err.print(f"pkgflow {args.command}: {exc}", markup=False)
        return 1
    except KeyboardInterrupt:
        err.print("interrupted; everything acknowledged so far is stored")
        return 130


if __name__ == "__main__":
    sys.exit(main())
