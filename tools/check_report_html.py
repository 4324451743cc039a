#!/usr/bin/env python3
"""Open a report HTML file in headless Chromium with no network and check that every
chart is drawn.

    .venv/bin/python tools/check_report_html.py data/reports/weekly-2025-W13.html \
        [--screenshot shot.png] [--chromium /usr/bin/chromium]

No network: Chromium runs in a new network namespace (``unshare --net``, only a
loopback device) when that is allowed (root, or unprivileged user namespaces), and in
any case with every host name resolving to nothing and a dead proxy.

Checks, on the DOM *after* Chromium loaded the page (``--dump-dom``):
- the file references nothing outside itself (no ``http(s)://`` script, link, img, iframe);
- every chart output holds an ``<svg>`` with drawn marks (paths, rects, text...);
- no renderer fallback text ("<VegaLite 6 object>", "<pkgflow chart>") and no
  ``Traceback`` / error output reached the page.

Exit status 0 when all hold; prints one line per chart. With ``--screenshot`` it
also saves a PNG of the page (``--height`` pixels tall) to look at.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9",
    "--hide-scrollbars",
)
EXTERNAL = re.compile(r"""<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I)
FALLBACKS = ("&lt;VegaLite", "<VegaLite", "&lt;pkgflow chart&gt;", "If you see this message")
MARK_TAGS = {"path", "rect", "line", "circle", "text", "polygon", "polyline"}


def find_chromium(explicit: str | None = None) -> str | None:
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _can_unshare() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False)
    return probe.returncode == 0


def run_chromium(chromium: str, args: list[str], timeout: float = 120) -> tuple[str, bool]:
    """Run Chromium (isolated from the network); returns stdout and whether a network
    namespace was used."""
    isolated = _can_unshare()
    with tempfile.TemporaryDirectory(prefix="pkgflow-chromium-") as profile:
        command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        if isolated:
            command = ["unshare", "--net", *command]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False,
            env={**os.environ, "HOME": profile},
        )
    if done.returncode != 0:
        msg = f"chromium failed ({done.returncode}): {done.stderr.strip()[-2000:]}"
        raise RuntimeError(msg)
    return done.stdout, isolated


@dataclass
class Chart:
    index: int
    svgs: int = 0
    marks: int = 0


@dataclass
class Page(HTMLParser):
    """Counts chart outputs (``data-mime-type="image/svg+xml"`` blocks) and the marks
    drawn inside each."""

    charts: list[Chart] = field(default_factory=list)
    _depth: int = 0
    _in_chart: int = 0

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "div":
            self._depth += 1
            if attr.get("data-mime-type") == "image/svg+xml" and not self._in_chart:
                self.charts.append(Chart(len(self.charts) + 1))
                self._in_chart = self._depth
        if self._in_chart:
            if tag == "svg":
                self.charts[-1].svgs += 1
            elif tag in MARK_TAGS:
                self.charts[-1].marks += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._in_chart and tag in MARK_TAGS:
            self.charts[-1].marks += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            if self._in_chart == self._depth:
                self._in_chart = 0
            self._depth -= 1


def take_screenshot(
    chromium: str, html_path: Path, screenshot: Path, height: int, offset: int = 0
) -> None:
    """A PNG of the page, 1280 px wide, ``height`` px tall, from ``offset`` px down
    (an offset shows the page in a shifted iframe: a closer look at a long report)."""
    target = html_path.as_uri()
    with tempfile.TemporaryDirectory(prefix="pkgflow-shot-") as tmp:
        if offset:
            wrapper = Path(tmp) / "view.html"
            wrapper.write_text(
                '<html><body style="margin:0;overflow:hidden">'
                f'<iframe src="{target}" style="position:absolute;top:-{offset}px;left:0;'
                f'width:1280px;height:{offset + height}px;border:0"></iframe></body></html>'
            )
            target = wrapper.as_uri()
        run_chromium(chromium, [f"--screenshot={screenshot.resolve()}",
                                f"--window-size=1280,{height}",
                                "--allow-file-access-from-files", target])


@dataclass
class Result:
    charts: list[Chart]
    problems: list[str]
    isolated: bool

    @property
    def ok(self) -> bool:
        return not self.problems


def check(
    html_path: Path, chromium: str | None = None, screenshot: Path | None = None,
    height: int = 9000, min_charts: int = 1,
) -> Result:
    binary = find_chromium(chromium)
    if binary is None:
        msg = "no Chromium found (apt-get install chromium)"
        raise FileNotFoundError(msg)
    html_path = html_path.resolve()
    source = html_path.read_text(encoding="utf-8")
    problems = [f"references the network: {m.group(0)[:120]}" for m in EXTERNAL.finditer(source)]
    dom, isolated = run_chromium(binary, ["--dump-dom", html_path.as_uri()])
    page = Page()
    page.feed(dom)
    if len(page.charts) < min_charts:
        problems.append(f"{len(page.charts)} charts in the page, expected at least {min_charts}")
    for chart in page.charts:
        if chart.svgs == 0 or chart.marks < 3:
            problems.append(f"chart {chart.index} is not drawn ({chart.svgs} svg, {chart.marks} marks)")
    for text in FALLBACKS:
        if text in dom:
            problems.append(f"renderer fallback text in the page: {text!r}")
    if "Traceback" in dom or 'data-mime-type="application/vnd.jupyter.stderr"' in dom:
        problems.append("an error or stderr output reached the page")
    if screenshot is not None:
        take_screenshot(binary, html_path, screenshot, height)
    return Result(page.charts, problems, isolated)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("--chromium", default=None, help="Chromium binary (default: from PATH)")
    parser.add_argument("--screenshot", type=Path, default=None, help="save a PNG of the page")
    parser.add_argument("--height", type=int, default=9000, help="screenshot height (px)")
    parser.add_argument("--offset", type=int, default=0, help="screenshot from this many px down")
    parser.add_argument("--min-charts", type=int, default=1, help="fail with fewer charts")
    args = parser.parse_args(argv)
    try:
        result = check(args.html, args.chromium, None, args.height, args.min_charts)
        if args.screenshot:
            take_screenshot(find_chromium(args.chromium) or "chromium", args.html.resolve(),
                            args.screenshot, args.height, args.offset)
    except (FileNotFoundError, RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"check_report_html: {exc}", file=sys.stderr)
        return 2
    net = "network namespace without network" if result.isolated else "no-network flags only"
    print(f"{args.html}: {len(result.charts)} charts ({net})")
    for chart in result.charts:
        print(f"  chart {chart.index}: {chart.svgs} svg, {chart.marks} marks")
    for problem in result.problems:
        print(f"PROBLEM: {problem}")
    if args.screenshot:
        print(f"screenshot: {args.screenshot}")
    print("OK" if result.ok else "FAILED")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
