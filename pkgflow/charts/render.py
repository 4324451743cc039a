"""How charts are displayed: offline everywhere, never a CDN.

``setup(renderer)`` enables the pkgflow theme and one of these Altair renderers:

``lab`` (default, registered here as ``pkgflow-lab``)
    JupyterLab 4 renders Vega-Lite natively and offline, but only the mimetypes
    ``application/vnd.vegalite.v3/v4/v5+json`` (it bundles Vega-Lite 5.6); Altair 6's own
    ``mimetype`` renderer emits ``application/vnd.vegalite.v6.json``, which JupyterLab
    4.6 does not know and shows as "<VegaLite 6 object>". So this renderer emits the
    same spec under the v5 mimetype (our charts use nothing Vega-Lite 6 added; the
    tests compile every chart with Vega-Lite 5.8), plus an inline SVG for frontends
    without a Vega-Lite renderer (nbconvert, GitHub) and a text fallback.
``svg``
    static inline SVG rendered by vl-convert (the weekly report: no JavaScript at all).
``png``
    static PNG (vl-convert).
``html-inline``
    Altair's HTML output with the Vega JavaScript inlined (~900 kB per chart, offline,
    interactive anywhere; heavy).

``$PKGFLOW_CHARTS`` picks the renderer when ``setup()`` gets none.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import altair as alt

from pkgflow.charts import theme

VEGALITE5_MIME = "application/vnd.vegalite.v5+json"
VEGALITE5_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
RENDERERS = ("lab", "svg", "png", "html-inline")


def to_svg(spec: dict[str, Any]) -> str:
    """Render a Vega-Lite spec to SVG with vl-convert (no browser, no network)."""
    import vl_convert as vlc

    return vlc.vegalite_to_svg(spec)


def lab_renderer(spec: dict[str, Any], **metadata: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """JupyterLab-native (v5 mimetype) bundle with an SVG fallback."""
    v5 = copy.deepcopy(spec)
    v5["$schema"] = VEGALITE5_SCHEMA
    bundle: dict[str, Any] = {
        VEGALITE5_MIME: v5,
        "image/svg+xml": to_svg(spec),
        "text/plain": "<pkgflow chart>",
    }
    return bundle, {}


alt.renderers.register("pkgflow-lab", lab_renderer)


def setup(renderer: str | None = None) -> str:
    """Enable the pkgflow theme and a renderer (see the module doc); returns its name."""
    name = (renderer or os.environ.get("PKGFLOW_CHARTS") or "lab").strip()
    if name not in RENDERERS:
        msg = f"unknown chart renderer {name!r}; use one of {', '.join(RENDERERS)}"
        raise ValueError(msg)
    theme.enable()
    if name == "lab":
        alt.renderers.enable("pkgflow-lab")
    elif name == "html-inline":
        alt.renderers.enable("html", template="inline")
    else:
        alt.renderers.enable(name)
    return name
