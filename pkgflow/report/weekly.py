"""The weekly report: open a week over the store (for the notebook), and produce the
report (papermill runs ``notebooks/weekly_report.ipynb``; nbconvert exports one
self-contained HTML file without input cells; charts are inline SVG)."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pkgflow.charts import data
from pkgflow.config import store_path
from pkgflow.errors import PkgflowError, ReplayError

ROOT = Path(__file__).resolve().parent.parent.parent
NOTEBOOKS = ROOT / "notebooks"
WEEKLY_NOTEBOOK = NOTEBOOKS / "weekly_report.ipynb"
TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = "pkgflow_offline"


class ReportError(PkgflowError, RuntimeError):
    """The report could not be produced (a notebook cell failed, nbconvert failed)."""


@dataclass
class Scope:
    """What a report or notebook looks at: a connection over the store as of the end
    of ``week`` (optionally one release), and that week."""

    con: duckdb.DuckDBPyConnection
    week: data.Week
    complete: bool
    release: str | None
    store: Path

    @property
    def start(self):
        return self.week.start

    @property
    def end(self):
        return self.week.end

    def title(self) -> str:
        what = f"release {self.release}" if self.release else "all releases"
        start = self.week.start
        note = "" if self.complete else " (the data does not cover a whole week yet)"
        return (
            f"# Proposed-migration weekly report, {self.week.label}\n\n"
            f"{start:%A %d %B %Y} to {self.week.days[-1]:%A %d %B %Y} (UTC), {what}{note}."
        )


def connect_release(
    store: str | os.PathLike[str] | None, as_of=None, release: str | None = None
) -> duckdb.DuckDBPyConnection:
    """:func:`pkgflow.replay.connect`, materialized, optionally limited to one release.

    The replay views read two inputs, ``_events`` and ``_samples``; a release filter
    renames them and puts a filtering view in their place before materializing."""
    from pkgflow.replay import connect, materialize

    con = connect(store_path(store), as_of=as_of, materialize=False)
    if release:
        if not release.replace("-", "").isalnum():
            msg = f"not a release name: {release!r}"
            raise ReplayError(msg)
        for name in ("_events", "_samples"):
            con.execute(f"ALTER VIEW {name} RENAME TO {name}_all_releases")
            con.execute(
                f"CREATE VIEW {name} AS SELECT * FROM {name}_all_releases "
                f"WHERE release = '{release}'"
            )
        found = con.sql("SELECT count(*) FROM (SELECT 1 FROM _events LIMIT 1)").fetchall()[0][0]
        if not found:
            msg = f"the store holds no events of release {release!r}"
            raise ReplayError(msg)
    materialize(con)
    return con


def resolve_week(store: str | os.PathLike[str] | None, week: str | None) -> tuple[data.Week, bool]:
    """The week to report: ``week`` if given, else the last complete ISO week. Raises
    ReplayError when there is no store (before a report starts any work)."""
    root = store_path(store)
    if not (root / "events").exists():
        msg = (
            f"no event store at {root}; run `pkgflow demo` (or `pkgflow simulate --days 30`) "
            "first, or point $PKGFLOW_STORE at one"
        )
        raise ReplayError(msg)
    if week:
        return data.iso_week(week), True
    from pkgflow.replay import connect

    con = connect(root)
    try:
        return data.last_complete_week(con)
    finally:
        con.close()


def open_week(
    store: str | os.PathLike[str] | None = None,
    week: str | None = None,
    release: str | None = None,
) -> Scope:
    """Everything the weekly notebook needs: see :class:`Scope`. The connection sees
    the store as it was at the end of the week (later events are ignored)."""
    root = store_path(store)
    chosen, complete = resolve_week(root, week)
    con = connect_release(root, as_of=chosen.end, release=release)
    found = data.data_range(con)
    if found is None or found[1] < chosen.previous.start:
        msg = f"the store at {root} holds no events up to {chosen.label}"
        raise ReplayError(msg)
    if week and found[1].date() < chosen.days[-1]:
        complete = False
    return Scope(con, chosen, complete, release, root)


@dataclass(frozen=True)
class ReportResult:
    path: Path
    week: str
    seconds: float


def weekly_report(
    store: str | os.PathLike[str] | None = None,
    week: str | None = None,
    release: str | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    notebook: Path = WEEKLY_NOTEBOOK,
    timeout: int = 600,
) -> ReportResult:
    """Execute the weekly notebook for ``week`` and export it to
    ``<out>/weekly-<week>[-<release>].html`` (default ``out``: ``<store>/reports``).

    A failing cell raises :class:`ReportError` with the cell's error message."""
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    started = time.perf_counter()
    root = store_path(store)
    chosen, _ = resolve_week(root, week)
    target = Path(out) if out is not None else root / "reports"
    target.mkdir(parents=True, exist_ok=True)
    name = f"weekly-{chosen.label}" + (f"-{release}" if release else "") + ".html"
    parameters = {
        "store": str(root.resolve()),
        "week": chosen.label,
        "release": release,
        "renderer": "svg",
    }
    with tempfile.TemporaryDirectory(prefix="pkgflow-report-") as tmp:
        executed = Path(tmp) / "weekly_report.ipynb"
        try:
            papermill.execute_notebook(
                str(notebook),
                str(executed),
                parameters=parameters,
                kernel_name="python3",
                progress_bar=False,
                log_output=False,
                cwd=str(notebook.parent),
                execution_timeout=timeout,
                extra_arguments=["--log-level=ERROR"],  # no kernel start-up warnings
            )
        except papermill.PapermillExecutionError as exc:
            raise ReportError(_cell_error(exc)) from None
        except Exception as exc:  # kernel died, missing notebook, ...
            msg = f"could not execute {notebook.name}: {type(exc).__name__}: {exc}"
            raise ReportError(msg) from None
        nb = nbformat.read(executed, as_version=4)
    nb.metadata["title"] = f"pkgflow weekly report {chosen.label}"
    exporter = HTMLExporter(
        template_name=TEMPLATE,
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    try:
        body, _ = exporter.from_notebook_node(nb)
    except Exception as exc:
        msg = f"could not export the report to HTML: {type(exc).__name__}: {exc}"
        raise ReportError(msg) from None
    path = target / name
    tmp_path = path.with_suffix(".html.tmp")
    tmp_path.write_text(body, encoding="utf-8")
    tmp_path.replace(path)
    return ReportResult(path, chosen.label, time.perf_counter() - started)


def _cell_error(exc: Exception) -> str:
    """One line from papermill's error: the failing cell's exception, no traceback."""
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = str(getattr(exc, "evalue", exc)).strip()
    cell = getattr(exc, "exec_count", None)
    where = f"cell {cell}" if cell is not None else "a cell"
    if ename.endswith(("ReplayError", "ReportError", "PkgflowError", "StorageError")):
        return f"{where} of the weekly notebook failed: {evalue}"
    return f"{where} of the weekly notebook failed: {ename}: {evalue}"
