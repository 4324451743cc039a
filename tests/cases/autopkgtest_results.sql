-- A small autopkgtest results database in the real SQLite shape
-- (autopkgtest-cloud's download-results / publish-db: tables test and result).
-- Build it with: sqlite3 autopkgtest.db < autopkgtest_results.sql
CREATE TABLE test (id INTEGER PRIMARY KEY, release CHAR[20], arch CHAR[20], package char[120]);
CREATE TABLE result (
    test_id INTEGER, run_id CHAR[30], version VARCHAR[200], triggers TEXT,
    duration INTEGER, exitcode INTEGER, requester TEXT, env TEXT,
    PRIMARY KEY(test_id, run_id),
    FOREIGN KEY(test_id) REFERENCES test(id)
);
CREATE INDEX test_package_uix ON test(package);

INSERT INTO test VALUES (1, 'plucky', 'amd64', 'bar');
INSERT INTO test VALUES (2, 'plucky', 'arm64', 'foo');
INSERT INTO test VALUES (3, 'plucky', 'amd64', 'zed');
INSERT INTO test VALUES (4, 'noble', 's390x', 'foo');
INSERT INTO test VALUES (5, 'plucky', 'sparc', 'foo');
INSERT INTO test VALUES (6, 'plucky', 'riscv64', 'linux');

-- good rows
-- the multi-trigger run that update_excuses (tests/cases/excuses_1.yaml) also lists
INSERT INTO result VALUES (1, '20250310_090000_bbbbb@', '2.0', 'foo/1.0-1 libx/5-1', 300, 4, '', NULL);
INSERT INTO result VALUES (2, '20250310_140000_eeeee@', '1.0-1', 'foo/1.0-1', 120, 0, '', '');
-- old run-id format, a manual request, exit 2 (pass with skips)
INSERT INTO result VALUES (3, '20231105_101010@', '1', 'libx/4-1', 50, 2, 'someone', NULL);
-- tmpfail after a timeout, on another release
INSERT INTO result VALUES (4, '20240101_000000_12345@', '1.0-0ubuntu1', 'foo/1.0-0ubuntu1', 10000, 16, '', NULL);
-- denylisted, never ran; extra spaces between triggers
INSERT INTO result VALUES (6, '20250312_235959_f00d1@', '6.14.0-10.10', 'linux/6.14.0-10.10  linux-meta/6.14.0.10.10 ', 0, 99, NULL, NULL);
-- an unusual exit code (outcome error), empty version
INSERT INTO result VALUES (2, '20250311_000000_0a0b0@', '', 'foo/1.0-1', 7, 1, '', NULL);

-- malformed rows: each is skipped with a reason
INSERT INTO result VALUES (1, 'garbage', '2.0', 'foo/1.0-1', 10, 0, '', NULL);
INSERT INTO result VALUES (1, '20251399_000000_abcde@', '2.0', 'foo/1.0-1', 10, 0, '', NULL);
INSERT INTO result VALUES (1, '20250313_000000_aaaa1@', '2.0', 'foo/1.0-1', 10, NULL, '', NULL);
INSERT INTO result VALUES (1, '20250313_000000_aaaa2@', '2.0', 'foo/1.0-1', 10, 'four', '', NULL);
INSERT INTO result VALUES (1, '20250313_000000_aaaa3@', '2.0', '', 10, 0, '', NULL);
INSERT INTO result VALUES (1, '20250313_000000_aaaa4@', '2.0', 'notatrigger', 10, 0, '', NULL);
INSERT INTO result VALUES (1, '20250313_000000_aaaa5@', '2.0', 'foo/1.0-1', -3, 0, '', NULL);
INSERT INTO result VALUES (1, '20250313_000000_aaaa6@', '2.0', 'foo/1.0-1', 10, 300, '', NULL);
INSERT INTO result VALUES (5, '20250313_000000_aaaa7@', '1.0-1', 'foo/1.0-1', 10, 0, '', NULL);
INSERT INTO result VALUES (999, '20250313_000000_aaaa8@', '1.0-1', 'foo/1.0-1', 10, 0, '', NULL);
