"""The weekly report: executed for the fixture week, one offline HTML file with every
chart drawn (checked in headless Chromium when it is installed), clean errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from pkgflow.cli import main
from pkgflow.report import ReportError, weekly_report
from pkgflow.report.weekly import WEEKLY_NOTEBOOK
from tests.notebooks.fixture import FIXTURE_WEEK, build_fixture_store

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import check_report_html  # noqa: E402

CHARTS_IN_REPORT = 11


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture_store(tmp_path_factory.mktemp("report") / "store")


@pytest.fixture(scope="module")
def report(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    assert main(["--store", str(store), "report", "weekly", "--out", str(out)]) == 0
    return out / f"weekly-{FIXTURE_WEEK}.html"


@pytest.mark.slow
def test_report_is_one_offline_html_file(report: Path) -> None:
    html = report.read_text()
    assert html.count('data-mime-type="image/svg+xml"') == CHARTS_IN_REPORT
    assert html.count("<svg") >= CHARTS_IN_REPORT
    assert not check_report_html.EXTERNAL.search(html), "the report loads something remotely"
    assert "<script" not in html.lower() or not re.search(r"<script[^>]+src=", html, re.I)
    assert "Headline numbers" in html and "Tests retried with different results" in html
    assert "import " not in html  # no input cells
    assert "Traceback" not in html


@pytest.mark.slow
def test_report_draws_every_chart_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    chromium = check_report_html.find_chromium()
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is required in CI (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium); CI unset")
    result = check_report_html.check(
        report, chromium, screenshot=tmp_path / "report.png", height=2000,
        min_charts=CHARTS_IN_REPORT,
    )
    assert result.ok, result.problems
    assert len(result.charts) == CHARTS_IN_REPORT
    assert all(chart.marks >= 3 for chart in result.charts)
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_bad_week_is_one_clean_line(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--store", str(store), "report", "weekly", "--week", "2025-11"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        "pkgflow report: not an ISO week: '2025-11'; use YYYY-Www, e.g. 2025-W11"
    )


@pytest.mark.slow
def test_failing_cell_fails_with_its_error(store: Path, tmp_path: Path) -> None:
    nb = json.loads(WEEKLY_NOTEBOOK.read_text())
    nb["cells"].insert(2, {"cell_type": "code", "id": "broken", "metadata": {}, "outputs": [],
                           "execution_count": None,
                           "source": "raise ValueError('the chart data is wrong')"})
    broken = tmp_path / "broken.ipynb"
    broken.write_text(json.dumps(nb))
    with pytest.raises(ReportError, match=r"failed: ValueError: the chart data is wrong$"):
        weekly_report(store, week=FIXTURE_WEEK, out=tmp_path, notebook=broken)


@pytest.mark.slow
def test_replay_error_in_the_notebook_is_reported_cleanly(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--store", str(store), "report", "weekly", "--week", "2025-W10",
                 "--release", "noble", "--out", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("the store holds no events of release 'noble'"), err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_missing_store_is_reported(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="no event store|holds no events|empty"):
        weekly_report(tmp_path / "nothing", week="2025-W10", out=tmp_path)


def test_chromium_tool_is_executable() -> None:
    assert shutil.which("python3") is not None
    assert check_report_html.main(["/nonexistent.html", "--chromium", "/nonexistent"]) == 2
