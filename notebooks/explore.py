# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Bottleneck hunt
#
# A guided tour to find where the time goes in a window of the pipeline: which stage
# dominates, which architecture, which uploads suffered most and what held them up.
# Change the parameters and re-run (*Run > Run All Cells*).

# %% tags=["parameters"]
store = None  # event store; None: $PKGFLOW_STORE, else data/ in the checkout
days = 14  # how many days back from the newest event
release = None  # e.g. "plucky"; None: every release
renderer = None  # chart renderer; None: $PKGFLOW_CHARTS, else JupyterLab

# %%
from datetime import timedelta

from IPython.display import Markdown, display

from pkgflow import charts
from pkgflow.charts import data
from pkgflow.report import Table, connect_release

charts.setup(renderer)
con = connect_release(store, release=release)
first, last = data.data_range(con)
end = last
start = max(first, end - timedelta(days=days))
display(Markdown(f"Window: **{start:%a %d %b %Y %H:%M}** to **{end:%a %d %b %Y %H:%M}** UTC"))

# %% [markdown]
# ## 1. Which stage dominates?
#
# Milestone to milestone for uploads that migrated in the window: the biggest cells
# are where uploads spend their time.

# %%
# NBVAL_CHECK_OUTPUT
matrix = data.stage_matrix(con, start, end)
Table(matrix, caption="Hours between milestones (uploads migrated in the window)")

# %%
charts.stage_matrix_chart(matrix)

# %% [markdown]
# Work in progress: a thick *queued* band means too few test workers; thick
# *waiting for britney* or *blocked* bands point elsewhere.

# %%
charts.wip_chart(data.wip_over_time(con, start, end))

# %% [markdown]
# ## 2. Which architecture?
#
# Queue waits and run times per arch and week, queue depth over time.

# %%
# NBVAL_CHECK_OUTPUT
quantiles = data.wait_and_run_quantiles(con, start, end)
Table(quantiles, caption="Minutes: queue wait and run time quantiles per arch and week")

# %%
charts.wait_run_boxes(quantiles)

# %%
charts.queue_depth_chart(data.queue_depth_over_time(con, start, end))

# %%
charts.infra_failure_chart(data.infra_failure_rates(con, start, end))

# %% [markdown]
# When does the load arrive? Requests come in bursts when britney runs; the workers
# drain them afterwards.

# %%
charts.load_heatmap(data.load_by_hour(con, start, end), what="requested")

# %% [markdown]
# ## 3. The worst uploads and their critical paths
#
# Uploads that migrated in the window, slowest first, with where their time went.

# %%
# NBVAL_CHECK_OUTPUT
worst = data.slowest_uploads(con, start, end, n=8, include_open=False)
Table(worst.drop("release"), caption="Slowest uploads that migrated in the window")

# %% [markdown]
# Drill into one: its test runs per arch. The outlined run finished last (the critical
# path of its testing). Pick another row by changing `pick`.

# %%
pick = 0
if worst.height > pick:
    chosen = worst.row(pick, named=True)
    display(charts.upload_timeline_chart(
        data.upload_runs(con, chosen["package"], chosen["version"], chosen["release"]),
        title=f"Test runs of {chosen['package']} {chosen['version']}",
    ))

# %% [markdown]
# ## 4. Throughput
#
# Is the pipeline keeping up? Uploads in vs out, and test runs per day by result.

# %%
charts.uploads_flow_chart(data.uploads_per_day(con, start, end))

# %%
charts.runs_per_day_chart(data.runs_per_day(con, start, end))

# %%
charts.migration_trend_chart(data.migration_trend(con, start, end))
