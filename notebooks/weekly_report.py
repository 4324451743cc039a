# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
# Parameters (papermill: `pkgflow report weekly` sets them).
store = None  # event store folder; None: $PKGFLOW_STORE, else data/ in the checkout
week = None  # ISO week such as "2025-W11"; None: the last complete week in the store
release = None  # e.g. "plucky"; None: every release
renderer = None  # "svg" for the HTML report; None: $PKGFLOW_CHARTS, else JupyterLab

# %%
from IPython.display import Markdown, display

from pkgflow import charts
from pkgflow.charts import data
from pkgflow.report import Table, headline_sentences, headline_table, open_week

charts.setup(renderer)
scope = open_week(store, week, release)
con, wk = scope.con, scope.week
display(Markdown(scope.title()))

# %% [markdown]
# ## The week in numbers
#
# Each number is compared with the week before. *Better* / *worse* says whether the
# change is good news (shorter waits, more migrations); counts of work done are
# shown without a verdict.

# %%
# NBVAL_CHECK_OUTPUT
headline = data.headline(con, wk)
display(Markdown(headline_sentences(headline, wk.label)))
headline_table(headline)

# %% [markdown]
# ## Is work flowing?
#
# Uploads entering -proposed against those leaving it (migrated to the release,
# superseded by a newer version, or removed), and the test runs finished each day,
# coloured by result. A wide gap between *entered* and *migrated* means the backlog grew.

# %%
charts.uploads_flow_chart(data.uploads_per_day(con, wk.start, wk.end))

# %%
charts.runs_per_day_chart(data.runs_per_day(con, wk.start, wk.end))

# %% [markdown]
# ## Where the time goes
#
# How long uploads took between milestones (median / 90th percentile hours), over the
# uploads that migrated this week, then how many uploads and tests sat in each stage
# through the week. Large *waiting for britney* or *blocked* areas point at britney
# or at dependencies between uploads rather than at test capacity.

# %%
charts.stage_matrix_chart(data.stage_matrix(con, wk.start, wk.end))

# %%
charts.wip_chart(data.wip_over_time(con, wk.start, wk.end))

# %% [markdown]
# ## Time to migrate
#
# The distribution of the time from upload to migration for uploads that migrated
# this week, and its daily median and 90th percentile.

# %%
charts.migration_histogram(data.migration_times(con, wk.start, wk.end))

# %%
charts.migration_trend_chart(data.migration_trend(con, wk.start, wk.end))

# %% [markdown]
# ## Test capacity
#
# Queue depth per architecture (the *huge* context holds tests of uploads that
# trigger many tests), queue waits and run times per architecture for this week and the
# three before it, and when the load arrives.

# %%
charts.queue_depth_chart(data.queue_depth_over_time(con, wk.start, wk.end))

# %%
four_weeks = wk.start - (wk.end - wk.start) * 3
charts.wait_run_boxes(data.wait_and_run_quantiles(con, four_weeks, wk.end))

# %%
charts.load_heatmap(data.load_by_hour(con, wk.start, wk.end))

# %% [markdown]
# ## Infrastructure health
#
# Share of runs per architecture that failed for infrastructure reasons: *tmpfail*
# (the testbed broke) and *error* (an unexpected failure). These runs are retried and
# cost queue time; a rising line is a job for the infrastructure team.

# %%
charts.infra_failure_chart(data.infra_failure_rates(con, wk.start, wk.end))

# %% [markdown]
# ## Slowest uploads
#
# Uploads that left -proposed this week or were still there at its end, longest first,
# with the hours spent building, waiting for tests, waiting for britney to see the
# results, and blocked (by failing tests or other uploads). *Last test* is the test
# that finished last: the critical path of the upload's testing.

# %%
# NBVAL_CHECK_OUTPUT
slowest = data.slowest_uploads(con, wk.start, wk.end, n=10)
Table(
    slowest.drop("release"),
    headers={"days": "days in -proposed", "building_h": "building (h)",
             "testing_h": "tests (h)", "britney_h": "britney (h)", "blocked_h": "blocked (h)",
             "last_test": "last test"},
    caption="The ten slowest uploads",
)

# %% [markdown]
# The testing of the slowest upload that migrated this week, run by run: light bars are
# time spent waiting in a queue, the outlined run is the one that finished last.

# %%
migrated = data.slowest_uploads(con, wk.start, wk.end, n=1, include_open=False)
if migrated.is_empty():
    display(Markdown("*No upload migrated this week.*"))
else:
    first = migrated.row(0, named=True)
    display(charts.upload_timeline_chart(
        data.upload_runs(con, first["package"], first["version"], first["release"]),
        title=f"Test runs of {first['package']} {first['version']}",
    ))

# %% [markdown]
# ## Longest queue waits
#
# Test runs that started this week after the longest time in a queue.

# %%
# NBVAL_CHECK_OUTPUT
Table(
    data.longest_queue_waits(con, wk.start, wk.end, n=10),
    headers={"testsrc": "test", "requested_at": "requested (UTC)",
             "started_at": "started (UTC)", "wait_h": "wait (h)"},
    caption="The ten longest queue waits",
)

# %% [markdown]
# ## Flakiest tests
#
# Tests that were retried for the same upload and gave different results: flaky tests
# or flaky infrastructure. Each costs a retry and delays the upload.

# %%
# NBVAL_CHECK_OUTPUT
Table(
    data.flaky_tests(con, wk.start, wk.end, n=10),
    headers={"testsrc": "test", "flaky_triggers": "uploads affected",
             "outcomes": "results seen"},
    caption="Tests retried with different results",
    empty="no test gave different results on a retry this week",
)
