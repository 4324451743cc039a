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
# # Ad-hoc SQL over the views
#
# The replay views (`test_runs`, `uploads`, `in_flight`, `stage_intervals`,
# `queue_depth`, `events`; columns in `docs/queries.md` and `pkgflow/replay/sql.py`)
# answer the questions engineers ask (`../shared/domain.md` section 7). Each cell
# below is one question; copy and edit freely. Times are UTC, durations in seconds
# unless the column says otherwise.

# %% tags=["parameters"]
store = None  # event store; None: $PKGFLOW_STORE, else data/ in the checkout
as_of = None  # replay the store as it was at this instant (ISO 8601); None: now

# %%
import polars as pl

from pkgflow.report import connect_release

pl.Config.set_tbl_rows(15)
pl.Config.set_tbl_width_chars(140)
con = connect_release(store, as_of=as_of)
con.sql("SELECT * FROM replay_clock").pl()

# %% [markdown]
# **1. Average run time of passing tests per architecture**

# %%
# NBVAL_CHECK_OUTPUT
con.sql("""
    SELECT arch, count(*) AS runs, round(avg(run_time_s) / 60, 1) AS avg_minutes
    FROM test_runs WHERE outcome = 'pass'
    GROUP BY arch ORDER BY arch
""").pl()

# %% [markdown]
# **2. Total hours spent running tests per architecture in a release**

# %%
con.sql("""
    SELECT release, arch, round(sum(run_time_s) / 3600) AS hours
    FROM test_runs WHERE state = 'finished'
    GROUP BY ALL ORDER BY release, hours DESC
""").pl()

# %% [markdown]
# **3. The longest-running tests, and the packages with the most cumulative test time**

# %%
con.sql("""
    SELECT testsrc, arch, round(run_time_s / 3600, 2) AS hours, outcome, finished_at
    FROM test_runs WHERE state = 'finished'
    ORDER BY run_time_s DESC LIMIT 10
""").pl()

# %%
con.sql("""
    SELECT testsrc, count(*) AS runs, round(sum(run_time_s) / 3600, 1) AS hours
    FROM test_runs WHERE state = 'finished'
    GROUP BY testsrc ORDER BY hours DESC LIMIT 10
""").pl()

# %% [markdown]
# **4. How many packages have tests per architecture; which never passed on an arch**

# %%
con.sql("""
    SELECT arch, count(DISTINCT testsrc) AS packages_with_tests
    FROM test_runs GROUP BY arch ORDER BY arch
""").pl()

# %%
con.sql("""
    SELECT testsrc, arch, count(*) AS runs, list_sort(list_distinct(list(outcome))) AS outcomes
    FROM test_runs WHERE state = 'finished'
    GROUP BY testsrc, arch
    HAVING count(*) FILTER (outcome IN ('pass', 'neutral')) = 0
    ORDER BY runs DESC, testsrc LIMIT 10
""").pl()

# %% [markdown]
# **5. Per release and arch: packages whose latest run passes; pass vs fail run counts**

# %%
con.sql("""
    WITH latest AS (
        SELECT release, arch, testsrc, arg_max(outcome, finished_at) AS latest
        FROM test_runs WHERE state = 'finished' GROUP BY ALL
    ), counts AS (
        SELECT release, arch,
               count(*) FILTER (outcome = 'pass') AS pass_runs,
               count(*) FILTER (outcome IN ('fail', 'tmpfail', 'error')) AS fail_runs
        FROM test_runs WHERE state = 'finished' GROUP BY ALL
    )
    SELECT l.release, l.arch, count(*) FILTER (latest = 'pass') AS latest_passing,
           count(*) AS packages, any_value(c.pass_runs) AS pass_runs,
           any_value(c.fail_runs) AS fail_runs
    FROM latest AS l JOIN counts AS c USING (release, arch)
    GROUP BY l.release, l.arch ORDER BY l.release, l.arch
""").pl()

# %% [markdown]
# **6. Which arch results flipped pass to fail (or back) since a date**
# (add `AND testsrc IN (...)` for a set of packages)

# %%
con.sql("""
    WITH r AS (
        SELECT release, arch, testsrc, finished_at, outcome,
               lag(outcome) OVER (PARTITION BY release, arch, testsrc ORDER BY finished_at)
                   AS before
        FROM test_runs WHERE state = 'finished' AND outcome IN ('pass', 'fail')
    )
    SELECT testsrc, arch, before || ' -> ' || outcome AS flip, finished_at
    FROM r
    WHERE before IS NOT NULL AND before <> outcome
      AND finished_at >= (SELECT as_of FROM replay_clock) - INTERVAL 7 DAY
    ORDER BY finished_at DESC LIMIT 10
""").pl()

# %% [markdown]
# **7. What is queued or running right now** (filter on `testsrc`, `triggers` or
# `requester` for one package, trigger or requester)

# %%
con.sql("""
    SELECT state, arch, queue, count(*) AS tests, round(max(elapsed_s) / 3600, 1) AS oldest_h
    FROM in_flight WHERE kind = 'test'
    GROUP BY ALL ORDER BY state, arch, queue
""").pl()

# %% [markdown]
# **8. Queue wait p50/p95 per arch, context and day; queue depth over time**

# %%
con.sql("""
    SELECT date_trunc('day', started_at) AS day, arch, queue, count(*) AS runs,
           round(quantile_cont(queue_wait_s, 0.5) / 60, 1) AS p50_min,
           round(quantile_cont(queue_wait_s, 0.95) / 60, 1) AS p95_min
    FROM test_runs WHERE started_at IS NOT NULL AND queue_wait_s IS NOT NULL
    GROUP BY ALL ORDER BY day DESC, arch, queue LIMIT 12
""").pl()

# %%
con.sql("""
    SELECT date_trunc('hour', observed_at) AS hour, arch, queue, max(size) AS max_size
    FROM queue_depth GROUP BY ALL ORDER BY hour DESC, arch, queue LIMIT 12
""").pl()

# %% [markdown]
# **9. For one upload: how many of its tests are done, how long the rest will take**
# (the estimate: the median queue wait plus run time of its arches' recent runs,
# for each test not done yet)

# %%
con.sql("""
    WITH u AS (
        SELECT * FROM uploads WHERE tests_queued + tests_running > 0
        ORDER BY tests_total DESC LIMIT 1
    ), typical AS (
        SELECT median(queue_wait_s + run_time_s) AS s FROM test_runs
        WHERE finished_at > (SELECT as_of FROM replay_clock) - INTERVAL 1 DAY
    )
    SELECT package, version, tests_total, tests_done, tests_running, tests_queued,
           round(typical.s / 60) AS typical_minutes_per_test
    FROM u, typical
""").pl()

# %% [markdown]
# **10. Time from upload to last test result and to migration; share of time per phase**

# %%
# NBVAL_CHECK_OUTPUT
con.sql("""
    SELECT count(*) AS migrated,
           round(median(epoch(last_result_at - first_seen)) / 3600, 1) AS to_last_result_h,
           round(median(epoch(migrated_at - first_seen)) / 3600, 1) AS to_migration_h,
           round(sum(building_s) / sum(age_s), 3) AS building,
           round(sum(testing_s) / sum(age_s), 3) AS testing,
           round(sum(pickup_s) / sum(age_s), 3) AS britney_pickup,
           round(sum(blocked_s) / sum(age_s), 3) AS blocked
    FROM uploads WHERE state = 'migrated'
""").pl()

# %% [markdown]
# **11. Items stuck longest, and which uploads block the most others**

# %%
con.sql("""
    SELECT package, version, state, verdict, round(age_s / 86400, 1) AS days, blocked_by
    FROM uploads WHERE ended_at IS NULL ORDER BY age_s DESC LIMIT 10
""").pl()

# %%
con.sql("""
    SELECT blocker, count(*) AS blocks
    FROM (SELECT unnest(blocked_by) AS blocker FROM uploads WHERE ended_at IS NULL)
    GROUP BY blocker ORDER BY blocks DESC, blocker LIMIT 10
""").pl()

# %% [markdown]
# **12. Uploads entered and migrated per week**

# %%
con.sql("""
    SELECT strftime(date_trunc('week', first_seen), '%G-W%V') AS week,
           count(*) AS entered, count(migrated_at) AS migrated_later
    FROM uploads GROUP BY ALL ORDER BY week
""").pl()

# %% [markdown]
# **13. tmpfail / error rates per arch over time (infrastructure health)**

# %%
con.sql("""
    SELECT date_trunc('week', finished_at) AS week, arch, count(*) AS runs,
           round(100 * avg((outcome = 'tmpfail')::INT), 2) AS tmpfail_pct,
           round(100 * avg((outcome = 'error')::INT), 2) AS error_pct
    FROM test_runs WHERE state = 'finished'
    GROUP BY ALL ORDER BY week, arch
""").pl()
