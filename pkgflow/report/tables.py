"""Tables for people: a frame shown as a plain HTML table (for the report) with a
stable plain-text form (what nbval compares), and the headline sentences."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

import polars as pl


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%a %d %b %H:%M")
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) < 1e15 else str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


class Table:
    """A small frame with readable headers; ``_repr_html_`` for notebooks and HTML,
    ``__repr__`` as aligned text."""

    def __init__(
        self,
        frame: pl.DataFrame,
        headers: dict[str, str] | None = None,
        caption: str = "",
        empty: str = "nothing to show",
    ) -> None:
        self.frame = frame
        self.headers = headers or {}
        self.caption = caption
        self.empty = empty

    def _rows(self) -> tuple[list[str], list[list[str]], list[bool]]:
        names = [self.headers.get(c, c) for c in self.frame.columns]
        numeric = [dtype.is_numeric() for dtype in self.frame.dtypes]
        rows = [[_cell(v) for v in row] for row in self.frame.iter_rows()]
        return names, rows, numeric

    def __repr__(self) -> str:
        if self.frame.is_empty():
            return f"{self.caption}\n({self.empty})" if self.caption else f"({self.empty})"
        names, rows, numeric = self._rows()
        widths = [max(len(n), *(len(r[i]) for r in rows)) for i, n in enumerate(names)]

        def line(cells: list[str]) -> str:
            return "  ".join(
                c.rjust(w) if num else c.ljust(w)
                for c, w, num in zip(cells, widths, numeric, strict=True)
            ).rstrip()

        out = [self.caption] if self.caption else []
        out += [line(names), line(["-" * w for w in widths])]
        out += [line(r) for r in rows]
        return "\n".join(out)

    def _repr_html_(self) -> str:
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        if self.frame.is_empty():
            return f'<table class="pkgflow">{caption}<tr><td>{html.escape(self.empty)}</td></tr></table>'
        names, rows, numeric = self._rows()
        head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
        body = "".join(
            "<tr>"
            + "".join(
                f'<td class="num">{html.escape(c)}</td>' if num else f"<td>{html.escape(c)}</td>"
                for c, num in zip(r, numeric, strict=True)
            )
            + "</tr>"
            for r in rows
        )
        return f'<table class="pkgflow">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _change(row: dict[str, Any]) -> str:
    change = row["change"]
    if change is None:
        return "-"
    arrow = "▲" if change > 0 else "▼" if change < 0 else "="
    return f"{arrow} {abs(change):.0%}"


def headline_table(headline: pl.DataFrame) -> Table:
    """The headline frame (:func:`pkgflow.charts.data.headline`) as a table."""
    rows = []
    for row in headline.iter_rows(named=True):
        good = None
        if row["change"] and row["better"] in ("up", "down"):
            good = (row["change"] > 0) == (row["better"] == "up")
        verdict = "-" if good is None else ("better" if good else "worse")
        rows.append({
            "metric": row["metric"],
            "this week": _number(row["this_week"]),
            "previous week": _number(row["previous_week"]),
            "unit": row["unit"],
            "change": _change(row),
            "": verdict,
        })
    return Table(pl.DataFrame(rows), caption="Headline numbers, week over week")


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def headline_sentences(headline: pl.DataFrame, week_label: str) -> str:
    """Two or three plain sentences a manager reads first (Markdown)."""
    v = {r["metric"]: r for r in headline.iter_rows(named=True)}

    def val(name: str) -> str:
        return _number(v[name]["this_week"])

    def delta(name: str) -> str:
        change = v[name]["change"]
        if change is None:
            return ""
        word = "up" if change > 0 else "down"
        return f" ({word} {abs(change):.0%} on the week before)"

    return (
        f"In **{week_label}**, {val('uploads entered -proposed')} uploads entered -proposed "
        f"and **{val('uploads migrated')} migrated**{delta('uploads migrated')}; "
        f"the median upload took **{val('median time to migrate')} hours** to migrate"
        f"{delta('median time to migrate')}. "
        f"{val('test runs finished')} test runs finished; the median test waited "
        f"**{val('median queue wait')} minutes** in a queue{delta('median queue wait')}, "
        f"one in ten waited more than {val('90th percentile queue wait')} hours. "
        f"{val('infrastructure failures (tmpfail + error)')}% of runs failed for "
        f"infrastructure reasons (tmpfail or error). "
        f"{val('uploads still in -proposed at week end')} uploads were still in -proposed "
        f"at the end of the week."
    )
