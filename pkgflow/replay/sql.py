"""The projections as SQL text (pure: no connection, no I/O).

Every projection is a ``SELECT`` over named inputs, so the same text serves as a
view (lazy, always current) or as the body of ``CREATE TABLE ... AS`` (materialised,
see :func:`pkgflow.replay.materialize`). The inputs are three relations that
:func:`pkgflow.replay.connect` defines over the store:

``_events``
    the stored events of the window (unordered; ``occurred_at <= as_of``)
``_samples``
    the queue-depth samples of the window
``replay_clock``
    one row, one column ``as_of``: the instant the projections describe

``VIEWS`` lists every projection in dependency order; names starting with ``_`` are
internal steps. docs/queries.md documents the public columns and the rules.
"""

from __future__ import annotations

from typing import Final

from pkgflow.events.keys import TEST_KEYED_TYPES
from pkgflow.events.types import UPLOAD_EVENT_TYPES

#: Outcomes that count as a passed test (britney: PASS and NEUTRAL let an item migrate).
PASSING_OUTCOMES: Final = ("pass", "neutral")
#: Upload states after which nothing more happens.
FINAL_UPLOAD_STATES: Final = ("migrated", "superseded", "removed")
#: Run states of test runs that are still in the pipeline.
OPEN_RUN_STATES: Final = ("queued", "running")
#: Every run state.
RUN_STATES: Final = ("queued", "running", "finished", "dropped", "abandoned")
#: Every upload state.
UPLOAD_STATES: Final = ("building", "testing", "blocked", "ready", *FINAL_UPLOAD_STATES)


def _ord(at: str = "occurred_at", seq: str = "seq") -> str:
    """One HUGEINT that sorts like ``(at, seq)``: arg_max/min over it stay numeric
    (several times cheaper than over a (timestamp, seq) struct)."""
    return f"((epoch_us({at})::HUGEINT << 64) + {seq})"


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


#: kind codes of test events: the run-cutting rank is least(kind, 2).
_KIND = (
    "CASE event_type WHEN 'test.requested' THEN 0 WHEN 'test.started' THEN 1 "
    "WHEN 'test.finished' THEN 2 WHEN 'test.dropped' THEN 3 ELSE 4 END::UTINYINT"
)

# Short texts of test events travel as one-byte codes through the aggregation (their
# text aggregates were the slowest part): 0 = no value, 127 = a value outside the
# list, whose text is then read from its event (exact, just slower, and rare).
QUEUE_CODES: Final = ("ubuntu", "huge", "ppa", "upstream")
STATUS_CODES: Final = (
    "PASS", "REGRESSION", "ALWAYSFAIL", "NEUTRAL", "IGNORE-FAIL", "OLD_PASS", "OLD_FAIL",
    "OLD_NEUTRAL", "OLD_REGRESSION", "RUNNING", "RUNNING-ALWAYSFAIL", "RUNNING-REFERENCE",
    "RUNNING-IGNORE",
)
OTHER: Final = 127
#: Bit 7 of a request's code: the request names a requester.
_HAS_REQUESTER: Final = 128


def _encode(column: str, values: tuple[str, ...]) -> str:
    cases = " ".join(f"WHEN {column} = '{v}' THEN {i}" for i, v in enumerate(values, 1))
    return f"CASE WHEN {column} IS NULL THEN 0 {cases} ELSE {OTHER} END"


def _decode(code: str, values: tuple[str, ...], other: str) -> str:
    cases = " ".join(f"WHEN {i} THEN '{v}'" for i, v in enumerate(values, 1))
    return f"CASE {code} {cases} WHEN {OTHER} THEN {other} END"


# Every test event as numbers only (~30 bytes): the hashed test key, the kind, the
# time in microseconds, and a ``tag``: its seq shifted left by 8 bits with one byte
# that the run needs from this event (a request's queue code and requester bit, a
# result's britney status code, 1 for a drop). Tags sort like seqs, so (at_us, tag)
# orders events like (occurred_at, seq), and min(tag) over one kind keeps the seq and
# the byte together: fewer aggregates, which are what the grouping below costs.
TEST_EVENTS: Final = f"""
SELECT
    test_key,  -- stored with each event (pkgflow/events/keys.py)
    {_KIND} AS kind,
    epoch_us(occurred_at) AS at_us,
    (seq << 8) | CASE event_type
        WHEN 'test.requested' THEN {_encode("queue", QUEUE_CODES)}
            + CASE WHEN coalesce(requester, '') <> '' THEN {_HAS_REQUESTER} ELSE 0 END
        WHEN 'results.published' THEN {_encode("status", STATUS_CODES)}
        WHEN 'test.dropped' THEN 1
        ELSE 0 END AS tag,
    CASE WHEN run_id IS NOT NULL THEN hash(run_id) END AS run_h
FROM _events
WHERE event_type IN ({_quoted(TEST_KEYED_TYPES)})
"""

# What a run keeps of its events. Within a run each kind occurs at most once (the
# cutting rules make sure; a finish and a drop are both its one end), so min() of a
# CASE picks that one event's value (a CASE is ~5% cheaper here than a FILTER).
_RUN_AGGREGATES = """
    min(CASE WHEN kind = 0 THEN at_us END) AS requested_us,
    min(CASE WHEN kind = 0 THEN tag END) AS request_tag,
    min(CASE WHEN kind = 1 THEN at_us END) AS started_us,
    min(CASE WHEN kind = 1 THEN tag END) AS start_tag,
    min(CASE WHEN kind IN (2, 3) THEN at_us END) AS ended_us,
    min(CASE WHEN kind IN (2, 3) THEN tag END) AS end_tag,
    min(CASE WHEN kind = 2 THEN run_h END) AS finish_run_h"""


def _before(a: tuple[str, str], b: tuple[str, str]) -> str:
    """``(a_at, a_tag) < (b_at, b_tag)``, true when either event is absent."""
    (a_at, a_tag), (b_at, b_tag) = a, b
    return (
        f"({a_at} IS NULL OR {b_at} IS NULL OR {a_at} < {b_at} "
        f"OR ({a_at} = {b_at} AND {a_tag} < {b_tag}))"
    )


# The slot of an event in its run: request 0, start 1, end (finish or drop) 2,
# published result 3.
_SLOT = "(1::UTINYINT << (least(kind, 2) + (kind = 4)::UTINYINT))"

# A key is "simple" when its events cannot cut into more than one run: no two events
# in one slot (count = number of slots used), in the order request < start < end (by
# occurred_at, then seq). Every other key goes through the window path.
_SIMPLE = f"""(
    n_events = bit_count(slots)
    AND {_before(("requested_us", "request_tag"), ("started_us", "start_tag"))}
    AND {_before(("requested_us", "request_tag"), ("ended_us", "end_tag"))}
    AND {_before(("started_us", "start_tag"), ("ended_us", "end_tag"))}
)"""

# One row per test key, from a dozen numeric aggregates (the cost of this step grows
# with their number). Most keys hold exactly one run: for those this row already is
# the run's skeleton, no window function needed.
TEST_KEYS: Final = f"""
SELECT *, {_SIMPLE} AS simple FROM (
SELECT
    test_key,
    count(*) AS n_events,
    bit_or({_SLOT}) AS slots,{_RUN_AGGREGATES},
    min(CASE WHEN kind = 4 THEN at_us END) AS published_us,
    min(CASE WHEN kind = 4 THEN tag END) AS publish_tag,
    min(CASE WHEN kind = 4 THEN run_h END) AS publish_run_h
FROM _test_events
GROUP BY test_key
HAVING slots & 7 <> 0
)
"""

_RUN_FIELDS = "requested_us, request_tag, started_us, start_tag, ended_us, end_tag"

#: Runs as numbers: (test_key, attempt), the time and tag of each of its events, and
#: the published result attached (by run_id). Only the keys that are not simple are
#: read a second time (their events, from the store) and cut with window functions.
RUN_SKELETONS: Final = f"""
WITH keys AS MATERIALIZED (
    -- named once: a lazy view would otherwise compute the aggregation twice
    SELECT * FROM _test_keys
), ev AS (
    SELECT * FROM _test_events
    WHERE test_key IN (SELECT test_key FROM keys WHERE NOT simple)
), cut AS (
    -- docs/events.md: a request always opens a run; any other event opens one when
    -- the key's previous event is not of a lower rank (requested 0 < started 1 < end 2)
    SELECT *, coalesce(least(kind, 2) <= least(lag(kind) OVER w, 2), true) AS opens
    FROM ev
    WHERE kind < 4
    WINDOW w AS (PARTITION BY test_key ORDER BY at_us, tag)
), numbered AS (
    SELECT *, sum(opens::INTEGER) OVER (
        PARTITION BY test_key ORDER BY at_us, tag ROWS UNBOUNDED PRECEDING
    ) AS attempt
    FROM cut
), complex_runs AS (
    SELECT test_key, attempt,{_RUN_AGGREGATES}, min(at_us) AS opened_us
    FROM numbered
    GROUP BY test_key, attempt
), complex_published AS (
    -- results published for these keys attach to the runs with the same run_id:
    -- the first publication's time, the latest one's status
    SELECT test_key, run_h, min(at_us) AS published_us,
           arg_max(tag, (at_us::HUGEINT << 64) + tag) AS publish_tag
    FROM ev
    WHERE kind = 4
    GROUP BY test_key, run_h
)
SELECT
    test_key, 1 AS attempt, 1 AS attempts, NULL::BIGINT AS next_opened_us, {_RUN_FIELDS},
    -- the one published result attaches when it names the run's run_id
    CASE WHEN publish_run_h = finish_run_h THEN published_us END AS published_us,
    CASE WHEN publish_run_h = finish_run_h THEN publish_tag END AS publish_tag
FROM keys
WHERE simple
UNION ALL
SELECT
    r.test_key, r.attempt::INTEGER, (count(*) OVER (PARTITION BY r.test_key))::INTEGER,
    lead(r.opened_us) OVER (PARTITION BY r.test_key ORDER BY r.attempt),
    {", ".join("r." + f.strip() for f in _RUN_FIELDS.split(","))},
    p.published_us, p.publish_tag
FROM complex_runs AS r
LEFT JOIN complex_published AS p ON p.test_key = r.test_key AND p.run_h = r.finish_run_h
"""

_SORTED = "CASE WHEN len({0}) > 1 THEN list_sort({0}) ELSE {0} END"


def _at(us: str) -> str:
    return f"make_timestamptz({us})"


# Each run takes its names and result from its events, by seq (joins on one integer
# column, cheaper than carrying texts through the aggregation): the finishing event
# gives the result and the test's names; the few unfinished runs take their names
# from their first event, the worker from their start, the drop's detail.
TEST_RUNS: Final = f"""
WITH s AS (
    SELECT
        test_key, attempt, attempts, next_opened_us, requested_us, started_us,
        published_us,
        request_tag >> 8 AS request_seq,
        (request_tag & 255)::UTINYINT AS request_code,
        start_tag >> 8 AS start_seq,
        CASE WHEN end_tag & 255 = 0 THEN ended_us END AS finished_us,
        CASE WHEN end_tag & 255 = 0 THEN end_tag >> 8 END AS finish_seq,
        CASE WHEN end_tag & 255 = 1 THEN ended_us END AS dropped_us,
        CASE WHEN end_tag & 255 = 1 THEN end_tag >> 8 END AS drop_seq,
        publish_tag >> 8 AS publish_seq,
        (publish_tag & 255)::UTINYINT AS status_code,
        coalesce(request_tag, start_tag, end_tag) >> 8 AS opened_seq,
        coalesce(requested_us, started_us, ended_us) AS opened_us
    FROM _run_skeletons
), f AS (
    SELECT seq, release, arch, testsrc, triggers, run_id, exitcode, outcome, duration,
           test_version, nullif(requester, '') AS requester, worker
    FROM _events
    WHERE event_type = 'test.finished'
), x AS (
    -- the few other events a run needs, each scan reading only the columns it
    -- needs: names, start and drop of unfinished runs ...
    SELECT seq, release, arch, testsrc, triggers, worker, detail
    FROM _events
    WHERE event_type IN ('test.requested', 'test.started', 'test.dropped')
      AND seq IN (
          SELECT unnest([opened_seq, start_seq, drop_seq]) FROM s WHERE finish_seq IS NULL
      )
), xr AS (
    -- ... requests with a requester or an unlisted queue ...
    SELECT seq, queue, nullif(requester, '') AS requester
    FROM _events
    WHERE event_type = 'test.requested'
      AND seq IN (
          SELECT request_seq FROM s
          WHERE request_code >= {_HAS_REQUESTER} OR request_code = {OTHER}
      )
), xp AS (
    -- ... and unlisted britney statuses
    SELECT seq, status
    FROM _events
    WHERE event_type = 'results.published'
      AND seq IN (SELECT publish_seq FROM s WHERE status_code = {OTHER})
), joined AS (
    SELECT
        s.*,
        coalesce(f.release, o.release) AS release,
        coalesce(f.arch, o.arch) AS arch,
        coalesce(f.testsrc, o.testsrc) AS testsrc,
        coalesce(f.triggers, o.triggers) AS raw_triggers,
        f.run_id, f.exitcode, f.outcome, f.duration, f.test_version,
        f.requester AS finish_requester, f.worker AS finish_worker,
        b.worker AS start_worker, d.detail AS drop_detail,
        {_decode(f"(s.request_code & {OTHER})", QUEUE_CODES, "xr.queue")} AS queue,
        CASE WHEN s.request_code >= {_HAS_REQUESTER} THEN xr.requester END
            AS request_requester,
        {_decode("s.status_code", STATUS_CODES, "xp.status")} AS britney_status,
        coalesce(s.started_us, s.finished_us - f.duration::BIGINT * 1000000) AS start_us
    FROM f  -- built on s, probed with f (see BUILD_SETTINGS in connect.py)
    RIGHT JOIN s ON f.seq = s.finish_seq
    LEFT JOIN x AS o ON o.seq = s.opened_seq AND s.finish_seq IS NULL
    LEFT JOIN x AS b ON b.seq = s.start_seq AND s.finish_seq IS NULL
    LEFT JOIN x AS d ON d.seq = s.drop_seq
    LEFT JOIN xr ON xr.seq = s.request_seq
    LEFT JOIN xp ON xp.seq = s.publish_seq
)
SELECT
    release, arch, testsrc, {_SORTED.format("raw_triggers")} AS triggers, queue,
    coalesce(request_requester, finish_requester) AS requester,
    CASE
        WHEN finished_us IS NOT NULL THEN 'finished'
        WHEN dropped_us IS NOT NULL THEN 'dropped'
        WHEN attempt < attempts THEN 'abandoned'
        WHEN started_us IS NOT NULL THEN 'running'
        ELSE 'queued'
    END AS state,
    {_at("requested_us")} AS requested_at,
    {_at("start_us")} AS started_at,
    {_at("finished_us")} AS finished_at,
    {_at("dropped_us")} AS dropped_at,
    CASE WHEN attempt < attempts AND finished_us IS NULL AND dropped_us IS NULL
         THEN {_at("next_opened_us")} END AS abandoned_at,
    {_at("published_us")} AS published_at,
    (start_us - requested_us) / 1e6 AS queue_wait_s,
    coalesce((finished_us - start_us) / 1e6, duration) AS run_time_s,
    (published_us - finished_us) / 1e6 AS pickup_delay_s,
    exitcode, outcome, duration, run_id, test_version, britney_status,
    coalesce(finish_worker, start_worker) AS worker,
    drop_detail,
    attempt, attempts, test_key,
    {_at("opened_us")} AS opened_at,
    opened_seq
FROM joined
"""

# -- uploads -----------------------------------------------------------------------

UPLOAD_EVENTS: Final = f"""
SELECT release, package, version, event_type, occurred_at, seq, {_ord()} AS ord,
       old_version, component, maintainer, arches, verdict, reasons, blocked_by, detail
FROM _events
WHERE event_type IN ({_quoted(UPLOAD_EVENT_TYPES)})
"""

# Builds: the arches of the latest build.missing, minus those a later
# build.completed names. Built when none is left: at the latest of those events.
UPLOAD_BUILDS: Final = """
WITH missing AS (
    SELECT release, package, version,
           arg_max(list_distinct(arches), ord) AS arches,
           arg_max(occurred_at, ord) AS missing_at,
           max(ord) AS ord
    FROM _upload_events
    WHERE event_type = 'build.missing'
    GROUP BY release, package, version
), completed AS (
    SELECT release, package, version, occurred_at, ord, unnest(arches) AS arch
    FROM _upload_events
    WHERE event_type = 'build.completed'
), done AS (
    SELECT m.release, m.package, m.version, c.arch, min(c.occurred_at) AS done_at
    FROM missing AS m
    JOIN completed AS c
      ON c.release = m.release AND c.package = m.package AND c.version = m.version
     AND c.ord > m.ord AND list_contains(m.arches, c.arch)
    GROUP BY ALL
), per_upload AS (
    SELECT release, package, version, list(arch) AS done_arches, max(done_at) AS last_done_at
    FROM done
    GROUP BY ALL
)
SELECT
    m.release, m.package, m.version,
    m.missing_at AS missing_reported_at,
    list_sort(list_filter(m.arches, lambda a: NOT list_contains(coalesce(p.done_arches, []), a)))
        AS missing_arches,
    CASE WHEN len(m.arches) = coalesce(len(p.done_arches), 0)
         THEN greatest(m.missing_at, p.last_done_at) END AS built_at
FROM missing AS m
LEFT JOIN per_upload AS p USING (release, package, version)
"""

# Tests of an upload: runs whose triggers name it, reduced to the latest run of each
# (test package, arch) -- a retry replaces the earlier result, as in britney. Totals
# over all runs are per-upload aggregates (few groups: cheap). The latest run of a
# (upload, test) pair is, when only one-trigger runs of one test key name the pair
# (nearly always), simply the key's last attempt; the rare pairs that a run with
# several triggers also names are grouped explicitly. Uploads and tests are 64-bit
# hashes; names are looked up once per upload.
_RUN_CODE = f"""CASE state
        WHEN 'queued' THEN 0 WHEN 'running' THEN 1
        WHEN 'finished' THEN CASE WHEN outcome IN ({_quoted(PASSING_OUTCOMES)}) THEN 2 ELSE 3 END
        ELSE 4 END::UTINYINT"""

UPLOAD_TESTS: Final = f"""
WITH per_trigger AS (
    -- unnest only where there is more than one trigger (it is slow, and rarely needed)
    SELECT release, triggers[1] AS trigger, testsrc, arch, state, outcome, requested_at,
           finished_at, opened_at, opened_seq, queue_wait_s, run_time_s,
           attempt = attempts AS last_of_key, false AS shared
    FROM test_runs WHERE len(triggers) = 1
    UNION ALL
    SELECT release, unnest(list_distinct(triggers)) AS trigger, testsrc, arch, state,
           outcome, requested_at, finished_at, opened_at, opened_seq, queue_wait_s,
           run_time_s, false, true
    FROM test_runs WHERE len(triggers) > 1
), coded AS (
    SELECT
        hash(release, trigger) AS upload_h, hash(testsrc, arch) AS test_h, release, trigger,
        {_RUN_CODE} AS code,
        {_ord("opened_at", "opened_seq")} AS opened_ord,
        CASE WHEN finished_at IS NOT NULL THEN {_ord("finished_at", "opened_seq")} END
            AS finished_ord,
        finished_at, coalesce(requested_at, opened_at) AS first_at,
        queue_wait_s, run_time_s, last_of_key, shared
    FROM per_trigger
    WHERE trigger LIKE '%/%' AND NOT starts_with(trigger, 'migration-reference/')
), totals AS (
    SELECT upload_h,
        any_value(release) AS release, any_value(trigger) AS trigger,
        count(*) AS runs_total,
        min(first_at) AS first_test_requested_at,
        max(finished_at) AS last_result_at,
        max(finished_ord) AS last_finished_ord,
        sum(queue_wait_s) AS queue_wait_s_total,
        sum(run_time_s) AS run_time_s_total
    FROM coded
    GROUP BY upload_h
), shared_pairs AS (
    SELECT DISTINCT upload_h, test_h FROM coded WHERE shared
), latest AS (
    SELECT upload_h, code FROM coded
    WHERE last_of_key AND (upload_h, test_h) NOT IN (SELECT * FROM shared_pairs)
    UNION ALL
    SELECT upload_h, arg_max(code, opened_ord) FROM coded
    WHERE (upload_h, test_h) IN (SELECT * FROM shared_pairs)
    GROUP BY upload_h, test_h
), per_upload AS (
    SELECT upload_h,
        count(*) AS tests_total,
        count(*) FILTER (code = 2) AS tests_passed,
        count(*) FILTER (code = 3) AS tests_failed,
        count(*) FILTER (code = 1) AS tests_running,
        count(*) FILTER (code = 0) AS tests_queued,
        count(*) FILTER (code = 4) AS tests_dropped
    FROM latest
    GROUP BY upload_h
)
SELECT
    t.release,
    split_part(t.trigger, '/', 1) AS package,
    substr(t.trigger, strpos(t.trigger, '/') + 1) AS version,
    p.tests_total, p.tests_passed, p.tests_failed, p.tests_running, p.tests_queued,
    p.tests_dropped, t.runs_total, t.first_test_requested_at, t.last_result_at,
    t.queue_wait_s_total, t.run_time_s_total,
    r.outcome AS last_result,
    r.testsrc || '/' || r.arch AS last_result_test
FROM totals AS t
JOIN per_upload AS p USING (upload_h)
LEFT JOIN test_runs AS r
  ON r.opened_seq = (t.last_finished_ord & 18446744073709551615)::BIGINT
"""

_END_TYPES = _quoted(("upload.migrated", "upload.superseded", "upload.removed"))

UPLOADS_CORE: Final = f"""
WITH tests AS MATERIALIZED (SELECT * FROM _upload_tests),
ev AS (
    SELECT release, package, version,
        min(occurred_at) AS first_event_at,
        min(occurred_at) FILTER (event_type = 'upload.accepted') AS accepted_at,
        arg_min(old_version, ord) FILTER (event_type = 'upload.accepted')
            AS old_version,
        arg_min(coalesce(component, 'main'), ord)
            FILTER (event_type = 'upload.accepted') AS component,
        arg_min(maintainer, ord) FILTER (event_type = 'upload.accepted')
            AS maintainer,
        arg_max(verdict, ord) FILTER (event_type = 'excuse.changed') AS verdict,
        max(occurred_at) FILTER (event_type = 'excuse.changed') AS verdict_at,
        arg_max(reasons, ord) FILTER (event_type = 'excuse.changed') AS reasons,
        arg_max(blocked_by, ord) FILTER (event_type = 'excuse.changed')
            AS blocked_by,
        min(occurred_at) FILTER (event_type = 'upload.migrated') AS migrated_at,
        min(occurred_at) FILTER (event_type = 'upload.superseded') AS superseded_at,
        arg_min(detail, ord) FILTER (event_type = 'upload.superseded')
            AS superseded_by,
        min(occurred_at) FILTER (event_type = 'upload.removed') AS removed_at,
        arg_min(event_type, ord) FILTER (event_type IN ({_END_TYPES}))
            AS end_type,
        min(occurred_at) FILTER (event_type IN ({_END_TYPES})) AS ended_at
    FROM _upload_events
    GROUP BY release, package, version
), keys AS (
    SELECT release, package, version FROM ev
    UNION
    SELECT release, package, version FROM tests
)
SELECT
    k.release, k.package, k.version,
    least(ev.first_event_at, t.first_test_requested_at) AS first_seen,
    ev.accepted_at, ev.old_version, ev.component, ev.maintainer,
    b.missing_arches,
    CASE WHEN b.release IS NULL THEN least(ev.first_event_at, t.first_test_requested_at)
         ELSE b.built_at END AS built_at,
    coalesce(t.tests_total, 0) AS tests_total,
    coalesce(t.tests_passed, 0) + coalesce(t.tests_failed, 0) AS tests_done,
    coalesce(t.tests_passed, 0) AS tests_passed,
    coalesce(t.tests_failed, 0) AS tests_failed,
    coalesce(t.tests_running, 0) AS tests_running,
    coalesce(t.tests_queued, 0) AS tests_queued,
    coalesce(t.tests_dropped, 0) AS tests_dropped,
    coalesce(t.runs_total, 0) AS runs_total,
    t.first_test_requested_at, t.last_result_at, t.last_result, t.last_result_test,
    ev.verdict, ev.verdict_at, ev.reasons, ev.blocked_by,
    ev.migrated_at, ev.superseded_at, ev.superseded_by, ev.removed_at, ev.ended_at,
    CASE
        WHEN ev.end_type IS NOT NULL THEN replace(ev.end_type, 'upload.', '')
        WHEN b.release IS NOT NULL AND b.built_at IS NULL THEN 'building'
        WHEN coalesce(t.tests_queued, 0) + coalesce(t.tests_running, 0) > 0 THEN 'testing'
        WHEN ev.verdict LIKE 'REJECTED%' THEN 'blocked'
        ELSE 'ready'
    END AS state,
    t.queue_wait_s_total, t.run_time_s_total
FROM keys AS k
LEFT JOIN ev USING (release, package, version)
LEFT JOIN tests AS t USING (release, package, version)
LEFT JOIN _upload_builds AS b USING (release, package, version)
"""

# Durations are (epoch_us(a) - epoch_us(b)) / 1e6: twenty times cheaper than
# epoch(a - b), which builds an INTERVAL first.
# Phases: first_seen -> built -> tests done -> britney's first word after that -> end.
# Each boundary is clamped between the previous one and the end (or the clock), so the
# four phases always add up to the upload's age.
UPLOADS: Final = f"""
WITH c AS (SELECT as_of FROM replay_clock),
done AS (
    SELECT u.*,
        coalesce(u.ended_at, c.as_of) AS end_or_now,
        CASE WHEN u.tests_queued + u.tests_running = 0
             THEN greatest(u.built_at, u.last_result_at) END AS tests_done_at
    FROM _uploads_core AS u, c
), britney AS (
    SELECT d.release, d.package, d.version, min(e.occurred_at) AS britney_after
    FROM done AS d
    JOIN _upload_events AS e
      ON e.release = d.release AND e.package = d.package AND e.version = d.version
     AND e.event_type IN ('excuse.changed', {_END_TYPES})
     AND e.occurred_at >= d.tests_done_at
    GROUP BY ALL
), bounds AS (
    SELECT d.*, b.britney_after,
        greatest(least(coalesce(d.built_at, d.end_or_now), d.end_or_now), d.first_seen) AS b1
    FROM done AS d
    LEFT JOIN britney AS b USING (release, package, version)
), bounds2 AS (
    SELECT *, greatest(least(coalesce(tests_done_at, end_or_now), end_or_now), b1) AS b2
    FROM bounds
), bounds3 AS (
    SELECT *, greatest(least(coalesce(britney_after, end_or_now), end_or_now), b2) AS b3
    FROM bounds2
)
SELECT
    release, package, version, state, first_seen, accepted_at, built_at, missing_arches,
    tests_total, tests_done, tests_passed, tests_failed, tests_running, tests_queued,
    tests_dropped, runs_total, first_test_requested_at, last_result_at, last_result,
    last_result_test, tests_done_at, britney_after AS britney_seen_at,
    verdict, verdict_at, reasons, blocked_by,
    migrated_at, superseded_at, superseded_by, removed_at, ended_at,
    (epoch_us(b1) - epoch_us(first_seen)) / 1e6 AS building_s,
    (epoch_us(b2) - epoch_us(b1)) / 1e6 AS testing_s,
    (epoch_us(b3) - epoch_us(b2)) / 1e6 AS pickup_s,
    (epoch_us(end_or_now) - epoch_us(b3)) / 1e6 AS blocked_s,
    (epoch_us(end_or_now) - epoch_us(first_seen)) / 1e6 AS age_s,
    queue_wait_s_total, run_time_s_total,
    old_version, component, maintainer,
    b1 AS testing_from, b2 AS pickup_from, b3 AS blocked_from
FROM bounds3
"""

# -- in flight ------------------------------------------------------------------------

IN_FLIGHT: Final = f"""
WITH c AS (SELECT as_of FROM replay_clock),
open_runs AS (
    SELECT * FROM test_runs WHERE state IN ({_quoted(OPEN_RUN_STATES)})
), tests AS (
    SELECT
        'test' AS kind, release, arch, queue, testsrc, triggers, requester, state,
        CASE state WHEN 'queued' THEN requested_at ELSE started_at END AS since,
        CASE WHEN state = 'queued' THEN row_number() OVER (
            PARTITION BY release, arch, queue, state ORDER BY requested_at, opened_seq
        ) END AS position,
        CASE WHEN state = 'queued' THEN count(*) OVER (
            PARTITION BY release, arch, queue, state
        ) END AS queue_size,
        attempt, test_key
    FROM open_runs
), waiting AS (
    SELECT release, trigger,
        list(DISTINCT testsrc || '/' || arch ORDER BY testsrc || '/' || arch) AS waiting_for
    FROM (SELECT release, unnest(triggers) AS trigger, testsrc, arch FROM open_runs)
    GROUP BY release, trigger
), ups AS (
    SELECT
        'upload' AS kind, u.release, u.package, u.version, u.state,
        u.first_seen AS since, u.tests_total, u.tests_done, u.tests_running, u.tests_queued,
        w.waiting_for, u.missing_arches, u.verdict, u.blocked_by
    FROM uploads AS u
    LEFT JOIN waiting AS w ON w.release = u.release AND w.trigger = u.package || '/' || u.version
    WHERE u.state NOT IN ({_quoted(FINAL_UPLOAD_STATES)})
)
SELECT
    kind, release, state, since, (epoch_us(c.as_of) - epoch_us(since)) / 1e6 AS elapsed_s,
    arch, queue, position, queue_size, testsrc, triggers, requester, attempt,
    package, version, tests_total, tests_done, tests_running, tests_queued, waiting_for,
    missing_arches, verdict, blocked_by, test_key
FROM (SELECT * FROM tests UNION ALL BY NAME SELECT * FROM ups), c
"""

# -- long form for timelines -----------------------------------------------------------

STAGE_INTERVALS: Final = """
WITH c AS (SELECT as_of FROM replay_clock),
runs AS (
    SELECT r.*, coalesce(r.finished_at, r.dropped_at, r.abandoned_at) AS closed_at,
           r.testsrc || '/' || r.arch || ' ' || array_to_string(r.triggers, ' ')
               || ' #' || r.attempt AS entity
    FROM test_runs AS r
), run_stages AS (
    SELECT 'test' AS entity_type, entity, release, testsrc AS package, NULL AS version, arch,
           'queued' AS stage, requested_at AS start_at, coalesce(started_at, closed_at) AS end_at
    FROM runs WHERE requested_at IS NOT NULL
    UNION ALL
    SELECT 'test', entity, release, testsrc, NULL, arch, 'running', started_at, closed_at
    FROM runs WHERE started_at IS NOT NULL
    UNION ALL
    SELECT 'test', entity, release, testsrc, NULL, arch, 'pickup', finished_at, published_at
    FROM runs WHERE finished_at IS NOT NULL
), ups AS (
    SELECT *, package || '/' || version AS entity, coalesce(ended_at, c.as_of) AS end_or_now
    FROM uploads, c
), upload_stages AS (
    SELECT 'upload' AS entity_type, entity, release, package, version, NULL AS arch,
           stage, start_at, CASE WHEN ended_at IS NULL AND end_at = end_or_now
                                 THEN NULL ELSE end_at END AS end_at
    FROM (
        SELECT *, 'building' AS stage, first_seen AS start_at, testing_from AS end_at FROM ups
        UNION ALL
        SELECT *, 'testing', testing_from, pickup_from FROM ups
        UNION ALL
        SELECT *, 'pickup', pickup_from, blocked_from FROM ups
        UNION ALL
        SELECT *, 'blocked', blocked_from, end_or_now FROM ups
    )
    WHERE end_at > start_at
)
SELECT s.*, (epoch_us(coalesce(s.end_at, c.as_of)) - epoch_us(s.start_at)) / 1e6 AS seconds
FROM (SELECT * FROM run_stages UNION ALL BY NAME SELECT * FROM upload_stages) AS s, c
"""

EVENTS: Final = "SELECT * FROM _events ORDER BY occurred_at, seq"

QUEUE_DEPTH: Final = """
SELECT observed_at, release, arch, queue, size, source, seq
FROM _samples
ORDER BY observed_at, seq
"""

#: (name, SELECT text) in dependency order. ``_``-names are internal steps.
VIEWS: Final[tuple[tuple[str, str], ...]] = (
    ("events", EVENTS),
    ("queue_depth", QUEUE_DEPTH),
    ("_test_events", TEST_EVENTS),
    ("_test_keys", TEST_KEYS),
    ("_run_skeletons", RUN_SKELETONS),
    ("test_runs", TEST_RUNS),
    ("_upload_events", UPLOAD_EVENTS),
    ("_upload_builds", UPLOAD_BUILDS),
    ("_upload_tests", UPLOAD_TESTS),
    ("_uploads_core", UPLOADS_CORE),
    ("uploads", UPLOADS),
    ("in_flight", IN_FLIGHT),
    ("stage_intervals", STAGE_INTERVALS),
)

#: The views users query (docs/queries.md).
PUBLIC_VIEWS: Final = tuple(name for name, _ in VIEWS if not name.startswith("_"))
