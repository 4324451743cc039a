"""Reports: the weekly HTML report (papermill + nbconvert, offline) and the tables
and sentences the notebooks show.

::

    from pkgflow.report import weekly_report
    result = weekly_report("data", week="2025-W11")   # -> data/reports/weekly-2025-W11.html
"""

from pkgflow.report.tables import Table, headline_sentences, headline_table
from pkgflow.report.weekly import (
    ReportError,
    ReportResult,
    Scope,
    connect_release,
    open_week,
    resolve_week,
    weekly_report,
)

__all__ = [
    "ReportError",
    "ReportResult",
    "Scope",
    "Table",
    "connect_release",
    "headline_sentences",
    "headline_table",
    "open_week",
    "resolve_week",
    "weekly_report",
]
