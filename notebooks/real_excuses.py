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
# # Real data: britney's excuses of 14 March 2025
#
# The project's first real data set: plucky's `update_excuses.yaml` generated on
# 2025-03-14 21:47 UTC (599 items, ~25,000 per-arch results, run ids from 2023 to the
# snapshot hour). It is imported into a temporary store with
# `pkgflow.ingest.importers.import_excuses`, then shown with the same views as the
# simulated data. It lives in `../shared/data/`; without it the notebook says so and
# stops.

# %% tags=["parameters"]
path = None  # the snapshot; None: ../shared/data/update_excuses-plucky-2025-03-14.yaml.xz
store = None  # where to import it; None: a new temporary folder
renderer = None  # chart renderer; None: $PKGFLOW_CHARTS, else JupyterLab

# %%
from IPython.display import Markdown, display

from pkgflow import charts
from pkgflow.charts import snapshot as snap
from pkgflow.report import Table

charts.setup(renderer)
loaded = snap.load_snapshot(path, store)
available = not isinstance(loaded, str)
if available:
    con = loaded.con
    display(Markdown(f"Imported **{loaded.events:,} events** from `{loaded.path.name}`; "
                     f"the newest is {loaded.generated:%Y-%m-%d %H:%M} UTC."))
else:
    display(Markdown(f"**Real data not available.** {loaded}"))

# %% [markdown]
# ## Results per architecture and status
#
# britney's status of each result it holds: PASS, NEUTRAL, ALWAYSFAIL (never passed),
# REGRESSION (passed before, fails now), OLD_* (results for versions no longer in a
# suite), RUNNING*.

# %%
if available:
    display(snap.results_by_arch_chart(snap.results_by_arch(con)))

# %% [markdown]
# ## Largest fan-outs
#
# The uploads that trigger the most test results (test packages x architectures).

# %%
if available:
    display(Table(snap.largest_fanouts(con), caption="Uploads with the most test results"))

# %% [markdown]
# ## How long blocked uploads have waited
#
# Time in -proposed of the uploads still there, by verdict (from britney's `current-age`).

# %%
if available:
    display(snap.blocked_ages_chart(snap.blocked_ages(con)))
    display(Table(snap.wait_summary(con), caption="Days in -proposed by verdict"))

# %% [markdown]
# ## Results finished per hour on the snapshot day
#
# Exact finish times come from the run ids in the log URLs: the day's load is bursty.

# %%
if available:
    display(snap.finished_per_hour_chart(snap.finished_per_hour(con)))

# %% [markdown]
# ## What blocks what
#
# Packages named in other uploads' `blocked-by`: fixing these unblocks the most.

# %%
if available:
    blocking = snap.blockers(con)
    display(snap.blockers_chart(blocking))
    display(Table(blocking, caption="Blockers and some of the uploads they block"))
