"""One look for every pkgflow chart: the ``pkgflow`` Altair theme and fixed colours.

Colours are fixed per category (an arch, an outcome, a stage is always the same
colour in every chart), so the builders pass explicit ``domain``/``range`` scales.
"""

from __future__ import annotations

from typing import Any

import altair as alt

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"

ARCH_COLORS: dict[str, str] = {
    "amd64": "#4c78a8",
    "arm64": "#f58518",
    "armhf": "#e45756",
    "i386": "#72b7b2",
    "ppc64el": "#54a24b",
    "s390x": "#b279a2",
    "riscv64": "#9d755d",
}

OUTCOME_COLORS: dict[str, str] = {
    "pass": "#54a24b",
    "neutral": "#bab0ac",
    "fail": "#e45756",
    "tmpfail": "#f58518",
    "error": "#b279a2",
    "denylisted": "#4c4c4c",
    "dropped": "#d8d8d8",
    "abandoned": "#9d755d",
    "running": "#4c78a8",
    "queued": "#9ecae9",
    "unknown": "#7f7f7f",
}

STAGE_COLORS: dict[str, str] = {
    "queued": "#9ecae9",
    "running": "#4c78a8",
    "building": "#bab0ac",
    "waiting for tests": "#72b7b2",
    "waiting for britney": "#eeca3b",
    "blocked": "#e45756",
}

FLOW_COLORS: dict[str, str] = {
    "entered": "#4c78a8",
    "migrated": "#54a24b",
    "superseded": "#bab0ac",
    "removed": "#e45756",
}

METRIC_COLORS: dict[str, str] = {"queue wait": "#f58518", "run time": "#4c78a8"}


def scale(colors: dict[str, str], present: list[str] | None = None) -> alt.Scale:
    """A nominal colour scale with our fixed colours (only ``present`` keys, in order)."""
    keys = [k for k in colors if present is None or k in present]
    extra = [k for k in (present or []) if k not in colors]
    return alt.Scale(
        domain=keys + extra, range=[colors[k] for k in keys] + ["#7f7f7f"] * len(extra)
    )


def theme() -> dict[str, Any]:
    """The theme's config (also usable directly as ``chart.configure(**...)``)."""
    return {
        "config": {
            "font": FONT,
            "background": "white",
            "view": {"continuousWidth": 560, "continuousHeight": 220, "stroke": None},
            "title": {"anchor": "start", "fontSize": 14, "fontWeight": 600, "offset": 10,
                      "subtitleColor": "#555", "subtitleFontSize": 11},
            "axis": {"labelFontSize": 11, "titleFontSize": 11, "titleFontWeight": 500,
                     "gridColor": "#ececec", "domainColor": "#888", "tickColor": "#888"},
            "legend": {"labelFontSize": 11, "titleFontSize": 11, "orient": "right"},
            "header": {"labelFontSize": 11, "titleFontSize": 11},
            "range": {"category": list(ARCH_COLORS.values())},
            "bar": {"continuousBandSize": 6},
            "line": {"strokeWidth": 1.6},
        }
    }


@alt.theme.register("pkgflow", enable=False)
def _pkgflow_theme() -> alt.theme.ThemeConfig:
    return theme()  # type: ignore[return-value]


def enable() -> None:
    """Make ``pkgflow`` the active Altair theme (idempotent)."""
    alt.theme.enable("pkgflow")
