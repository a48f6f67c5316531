"""Nothing kant returns depends on the session's settings.

pgjdbc sets the session TimeZone to the JVM's zone, psql to the server's,
and users set DateStyle, IntervalStyle, lc_time and extra_float_digits as
they like.  Two Tableau users, two pg_cron jobs or two psql sessions must get
the same values from kant: the same instants, dates, numbers and texts.

A history is built around fixed dates (New York's spring-forward night, a
Tokyo night, a stale collector) and around today (so that the views that
look at the last days have rows whatever the day the suite runs).  Then,
inside ONE transaction (so now() is the same for all), every view of schema
kant, every report function and every writer that renders text (run_checks
and its Slack messages, refresh_slo, expand_schedules, gate triggers and
recovery in dry run) runs under several combinations of TimeZone,
DateStyle, IntervalStyle, lc_time and extra_float_digits; the results are
stored as values (temporary tables, or read back after switching the
session to one fixed style) and compared.
"""
import datetime
import json
import re

from taplib import tap, fresh_db

conn, cur = fresh_db("kant_session_settings")
cur.execute("CREATE EXTENSION kant")

# today, in UTC, as the client sees it: the dated part of the history is
# placed relative to it so that the "last N days" views have rows on any day
today = datetime.datetime.now(datetime.timezone.utc).date()

SETUP = r"""
SET TimeZone = 'UTC';
SELECT kant.add_system('etl', 'manual', 'Asia/Tokyo', display_name => 'ETL');
SELECT kant.add_system('nyc', 'manual', 'America/New_York', display_name => 'NYC');
SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo', display_name => 'HEGEL', bd_offset_days => -1);
SELECT kant.set_endpoint('hegel', region => 'ap-northeast-1');
SELECT kant.configure_job('etl', j, pipeline => 'nightly') FROM unnest(ARRAY['extract', 'load', 'report']) AS j;
SELECT kant.configure_job('nyc', j, pipeline => 'nyc') FROM unnest(ARRAY['extract', 'load']) AS j;
SELECT kant.configure_job('hegel', 'export_users', pipeline => 'hegel_nightly');
SELECT kant.set_dependency('etl/load', ARRAY['etl/extract']);
SELECT kant.set_dependency('etl/report', ARRAY['etl/load']);
SELECT kant.set_dependency('nyc/load', ARRAY['nyc/extract']);
SELECT kant.set_schedule('etl', s, job => j, grace => '20 minutes', active_from => '2026-02-20')
FROM (VALUES ('extract', '0 1 * * *'), ('load', '30 1 * * *'), ('report', '30 2 * * *')) AS v(j, s);
SELECT kant.set_schedule('nyc', s, job => j, grace => '15 minutes', active_from => '2026-02-20')
FROM (VALUES ('extract', '30 1 * * *'), ('load', '30 2 * * *')) AS v(j, s);
SELECT kant.set_schedule('hegel', 'cron(0 17 * * ? *)', job => 'export_users', active_from => '2026-02-20');
SELECT kant.create_slo('nightly_done', '04:00', deadline_offset_days => 0, time_zone => 'Asia/Tokyo',
                       pipeline => 'nightly', evaluate_from => '2026-02-20');
SELECT kant.create_slo('nyc_by_4', '04:00', deadline_offset_days => 0, time_zone => 'America/New_York',
                       pipeline => 'nyc', evaluate_from => '2026-02-20');
SELECT kant.create_slo('hegel_by_6', '06:00', deadline_offset_days => 1, time_zone => 'Asia/Tokyo',
                       pipeline => 'hegel_nightly', evaluate_from => '2026-02-20');
SELECT kant.set_job_retries('etl/extract', 0);
SELECT kant.set_channel('ops', 'http://127.0.0.1:9/services/T000/B000/secret');
SELECT kant.add_route('ops');
SELECT kant.add_system('comp', 'airflow', 'Asia/Tokyo');
SELECT kant.set_endpoint('comp', 'http://127.0.0.1:9/airflow');
SELECT kant.create_gate('reports', pipeline => 'nightly', downstream_system => 'comp', downstream_dag => 'reports',
                        trigger_from => '2026-01-01');  -- catch up: the nights below are past
CREATE FUNCTION public.dq_before_0307(gate text, business_date date) RETURNS boolean
	LANGUAGE sql AS $$ SELECT business_date < date '2026-03-07' $$;
SELECT kant.create_gate('nyc_gate', pipeline => 'nyc', stale_after => '90 minutes',
                        condition => 'public.dq_before_0307');
SELECT kant.set_recovery('hegel/export_users', max_attempts => 2, min_wait => '5 minutes', dry_run => true);
-- a gate over a system whose collector has not succeeded for two weeks:
-- gate_status says how long ago, in days and hours of two digits
SELECT kant.add_system('legacy', 'glue', 'Europe/Berlin', display_name => 'Legacy');
SELECT kant.set_endpoint('legacy', region => 'eu-central-1');
SELECT kant.configure_job('legacy', 'ledger_export', pipeline => 'legacy');
SELECT kant.create_gate('legacy_gate', pipeline => 'legacy', stale_after => '14 hours');
"""

# fixed nights: Tokyo 2026-03-05..03-07 (one failed, one late); New York
# 2026-03-07..03-09 around spring forward (03-08 02:00 local does not exist)
FIXED = r"""
SELECT kant.report_run('etl', j, j || '-' || d, 'succeeded', d::date, 1,
        (d::date + s)::timestamp AT TIME ZONE 'Asia/Tokyo',
        (d::date + s + m * interval '1 minute')::timestamp AT TIME ZONE 'Asia/Tokyo')
FROM generate_series(0, 12) AS i CROSS JOIN LATERAL (SELECT date '2026-02-20' + i AS d) x,
     (VALUES ('extract', time '01:00', 30), ('load', '01:30', 60), ('report', '02:30', 30)) AS v(j, s, m);
SELECT kant.report_run('etl', 'extract', 'extract-0305', 'failed', '2026-03-05', 1,
        '2026-03-05 01:00+09', '2026-03-05 01:10+09', error_message => 'S3 AccessDenied: <!channel> <https://evil.example|console> & more');
SELECT kant.report_run('etl', 'extract', 'extract-0306', 'succeeded', '2026-03-06', 1,
        '2026-03-06 01:00+09', '2026-03-06 03:50:30.5+09');
SELECT kant.report_run('etl', 'load', 'load-0306', 'running', '2026-03-06', 1, '2026-03-06 03:51+09');
SELECT kant.report_run('nyc', j, j || '-' || d, 'succeeded', d::date, 1,
        (d::date + s)::timestamp AT TIME ZONE 'America/New_York',
        (d::date + s + m * interval '1 minute')::timestamp AT TIME ZONE 'America/New_York')
FROM generate_series(0, 16) AS i CROSS JOIN LATERAL (SELECT date '2026-02-20' + i AS d) x,
     (VALUES ('extract', time '01:30', 40), ('load', '02:30', 75)) AS v(j, s, m)
WHERE NOT (d = '2026-03-08' AND j = 'load');
SELECT kant.report_run('nyc', 'load', 'load-0308', 'failed', '2026-03-08', 1,
        '2026-03-08 03:30-04', '2026-03-08 03:35-04', error_message => 'Disk full');
SELECT kant.report_run('nyc', 'load', 'load-0308', 'succeeded', '2026-03-08', 2,
        '2026-03-08 03:40-04', '2026-03-08 05:10-04');
SELECT kant.ingest_glue_job_runs('hegel', '{"JobRuns": [
  {"Id": "jr_a", "Attempt": 0, "JobName": "export_users", "JobRunState": "FAILED",
   "StartedOn": "2026-03-06T17:00:00Z", "CompletedOn": "2026-03-06T17:10:00Z", "ErrorMessage": "OOM"},
  {"Id": "jr_b", "Attempt": 0, "JobName": "export_users", "JobRunState": "SUCCEEDED",
   "StartedOn": "2026-03-05T17:00:00Z", "CompletedOn": "2026-03-05T17:45:00.25Z"}]}');
INSERT INTO kant.collection (system_id, started_at, ended_at, error)
SELECT s.system_id, t, t + interval '5 seconds', e FROM kant.system s,
  (VALUES (timestamptz '2026-03-06 00:00+09', NULL),
          ('2026-03-06 01:00+09', 'kant: GetJobs: could not reach glue.ap-northeast-1.amazonaws.com'),
          ('2026-03-06 04:00+09', 'kant: GetJobs: could not reach glue.ap-northeast-1.amazonaws.com')) AS v(t, e)
WHERE s.name = 'hegel';
SELECT kant.add_dataset('rds.users', 'Asia/Tokyo'), kant.add_dataset('bq.users', 'Asia/Tokyo');
SELECT kant.report_metric('rds.users', '2026-03-05', 'row_count', 10000, measured_at => '2026-03-06T01:00:00+09'),
       kant.report_metric('bq.users', '2026-03-05', 'row_count', 9800, measured_at => '2026-03-06T02:00:00+09'),
       kant.report_metric('bq.users', '2026-03-05', 'max_timestamp', value_at => '2026-03-05T23:10:00+09',
                          measured_at => '2026-03-06T02:00:00+09');
SELECT kant.check_reconciliation('users arrived', 'bq.users', 'rds.users', tolerance_ratio => 0.001),
       kant.check_freshness('bq users fresh', 'bq.users', '1 hour');
SELECT count(*) FROM kant.evaluate_checks('2026-03-05', '2026-03-06', '2026-03-06T03:00:00+09');
"""

# the last five weeks, relative to today: the rolling views see them
RECENT = r"""
SELECT kant.report_run('etl', j, j || '-' || d, CASE WHEN d = %(today)s::date - 3 AND j = 'load' THEN 'failed' ELSE 'succeeded' END,
        d, 1, (d + s)::timestamp AT TIME ZONE 'Asia/Tokyo',
        (d + s + (m + (d - %(today)s::date) %% 7) * interval '1 minute')::timestamp AT TIME ZONE 'Asia/Tokyo')
FROM generate_series(1, 34) AS i CROSS JOIN LATERAL (SELECT %(today)s::date - i AS d) x,
     (VALUES ('extract', time '01:00', 30), ('load', '01:30', 60), ('report', '02:30', 30)) AS v(j, s, m);
INSERT INTO kant.collection (system_id, started_at, ended_at)
SELECT s.system_id, now() - interval '3 hours', now() - interval '3 hours' + interval '4 seconds'
FROM kant.system s WHERE s.name = 'hegel';
INSERT INTO kant.collection (system_id, started_at, ended_at)
SELECT s.system_id, now() - interval '15 days 5 hours', now() - interval '15 days 5 hours' + interval '4 seconds'
FROM kant.system s WHERE s.name = 'legacy';
SELECT kant.ingest_glue_job_runs('hegel', jsonb_build_object('JobRuns', jsonb_build_array(jsonb_build_object(
  'Id', 'jr_recent', 'Attempt', 0, 'JobName', 'export_users', 'JobRunState', 'FAILED',
  'StartedOn', extract(epoch FROM now() - interval '2 hours'), 'CompletedOn', extract(epoch FROM now() - interval '100 minutes'),
  'Arguments', jsonb_build_object('--day', 'x')))));
SELECT kant.refresh_slo(NULL, '-infinity');
"""

for block in (SETUP, FIXED):
    cur.execute(block)
cur.execute(RECENT.replace("%(today)s", "'%s'" % today.isoformat()).replace("%%", "%"))

# checks at instants of the fixed nights, and now: alerts and their messages
AS_OF = ["2026-03-05 01:12+09", "2026-03-05 04:10+09", "2026-03-06 04:05+09",
         "2026-03-06 05:00+09", "2026-03-08 04:10-04", "2026-03-08 05:20-04"]
for t in AS_OF:
    cur.execute("SELECT kant.run_checks(%s)", (t,))
cur.execute("SELECT kant.run_checks()")

# the combinations: canonical first
COMBOS = [
    dict(TimeZone="UTC", DateStyle="ISO, MDY", IntervalStyle="postgres", lc_time="C", extra_float_digits="1"),
    dict(TimeZone="Asia/Tokyo", DateStyle="SQL, DMY", IntervalStyle="iso_8601", lc_time="C.UTF-8", extra_float_digits="0"),
    dict(TimeZone="America/Los_Angeles", DateStyle="German", IntervalStyle="sql_standard", lc_time="C", extra_float_digits="-3"),
    dict(TimeZone="Asia/Kathmandu", DateStyle="Postgres, YMD", IntervalStyle="postgres_verbose", lc_time="C.UTF-8", extra_float_digits="3"),
    # the fewest digits a float8 prints with: 12 reads "1e+01"
    dict(TimeZone="Australia/Lord_Howe", DateStyle="ISO, DMY", IntervalStyle="postgres", lc_time="C", extra_float_digits="-15"),
]
CANON = COMBOS[0]


def set_combo(c):
    for k, v in c.items():
        cur.execute("SELECT set_config(%s, %s, false)", (k, v))


def name(c):
    return "%s/%s/%s/extra_float_digits=%s" % (c["TimeZone"], c["DateStyle"].replace(" ", ""), c["IntervalStyle"],
                                               c["extra_float_digits"])


# a duration kant wrote for people whose leading number has two digits or
# more ("15 d 4 h", "12 h 00 min", "10 min", "40 s"): the number 0.5.0 took
# from a float8, which extra_float_digits = -15 printed as "2e+01", "1e+01".
# (The hours after "d" and the minutes after "h" were numeric already.)
DURATION = re.compile(r"(?<!\d [dh] )\b[1-9]\d+ (d|h|min|s)\b")


def durations(rows):
    return sorted({m.group(0) for r in rows for v in r for m in DURATION.finditer(str(v))})


def rows_canon(sql, args=()):
    """The rows of sql, read with the canonical settings, as comparable values."""
    set_combo(CANON)
    cur.execute(sql, args)
    out = [tuple(json.dumps(v, sort_keys=True, default=str) if isinstance(v, (dict, list)) else v
                 for v in r) for r in cur.fetchall()]
    return sorted(out, key=repr)


def first_difference(a, b):
    for x, y in zip(a, b):
        if x != y:
            return "%r\n  vs %r" % (x, y)
    return "%d rows vs %d rows" % (len(a), len(b))


cur.execute("BEGIN")   # one transaction: one now() for every combination

# 1. every view of schema kant, as values
cur.execute("""SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'kant'::regnamespace
               AND c.relkind = 'v' ORDER BY 1""")
views = [r[0] for r in cur.fetchall()]
for i, c in enumerate(COMBOS):
    set_combo(c)
    for v in views:
        cur.execute('CREATE TEMP TABLE "r%d_%s" AS SELECT * FROM kant."%s"' % (i, v, v))
empty = []
for v in views:
    base = rows_canon('SELECT * FROM "r0_%s"' % v)
    if not base:
        empty.append(v)
    for i, c in enumerate(COMBOS[1:], 1):
        got = rows_canon('SELECT * FROM "r%d_%s"' % (i, v))
        tap(got == base, "view kant.%s: the same values under %s as under UTC/ISO (%d rows)"
            % (v, name(c), len(base)), first_difference(base, got))
tap(not [v for v in empty if v.startswith("bi_") or v in ("open_alerts", "expected_runs", "runs")],
    "the views under test have rows (empty: %s)" % (", ".join(empty) or "none"))

# 2. report functions, as values
REPORTS = [
    ("slo_attainment", "SELECT s.name, x.* FROM kant.slo s, kant.slo_attainment(s.name) x"),
    ("slo_attainment as_of", "SELECT s.name, x.* FROM kant.slo s, kant.slo_attainment(s.name, 7, '2026-03-08') x"),
    ("gate_status", "SELECT g.name, d, x.* FROM kant.gate g, (VALUES (date '2026-03-05'), ('2026-03-06'), ('2026-03-08'), ('2026-03-09'), ((now() AT TIME ZONE 'Asia/Tokyo')::date - 1)) AS v(d), kant.gate_status(g.name, d) x"),
    ("kant_gate_ready", "SELECT g.name, d, kant.kant_gate_ready(g.name, d) FROM kant.gate g, generate_series(0, 40) AS i, LATERAL (SELECT date '2026-02-28' + i AS d) x"),
    ("check_conditions", "SELECT t, c.* FROM unnest(%s::timestamptz[]) AS t, kant.check_conditions(t) c"),
    ("check_conditions now", "SELECT * FROM kant.check_conditions()"),
    ("job_durations", "SELECT * FROM kant.job_durations(ARRAY(SELECT job_id FROM kant.job), '2026-03-07 00:00+00')"),
]
for label, sql in REPORTS:
    args = (AS_OF,) if "%s" in sql else ()
    base = None
    for i, c in enumerate(COMBOS):
        set_combo(c)
        cur.execute('CREATE TEMP TABLE "f%d_%d" AS %s' % (i, REPORTS.index((label, sql)), sql), args)
    base = rows_canon('SELECT * FROM "f0_%d"' % REPORTS.index((label, sql)))
    if label in ("gate_status", "check_conditions"):
        tap(durations(base), "kant.%s: the compared texts hold durations of two digits or more (%s)"
            % (label, ", ".join(durations(base)[:6])))
    for i, c in enumerate(COMBOS[1:], 1):
        got = rows_canon('SELECT * FROM "f%d_%d"' % (i, REPORTS.index((label, sql))))
        tap(got == base and len(base) > 0, "kant.%s: the same values under %s (%d rows)" % (label, name(c), len(base)),
            first_difference(base, got))

# 3. what writers store: alerts and Slack messages, SLO days, expected runs,
#    gate triggers and restarts in dry run
WRITERS = [
    ("run_checks: alerts", "DELETE FROM kant.notification; DELETE FROM kant.alert; "
     "SELECT kant.run_checks(t) FROM unnest(%s::timestamptz[]) AS t ORDER BY t; SELECT kant.run_checks()",
     "SELECT alert_key, kind, severity, business_date, status, summary, detail, opened_at, resolved_at, resolution FROM kant.alert"),
    ("run_checks: Slack messages", "DELETE FROM kant.notification; DELETE FROM kant.alert; "
     "SELECT kant.run_checks(t) FROM unnest(%s::timestamptz[]) AS t ORDER BY t",
     "SELECT channel, event, alert_key, payload FROM kant.notification"),
    ("refresh_slo", "SELECT kant.refresh_slo(NULL, '-infinity')",
     "SELECT slo_id, business_date, deadline, sla_end, slo_status, sla_status, completed_at, lateness_seconds, runs, done, missing FROM kant.slo_day"),
    ("expand_schedules", "DELETE FROM kant.expected_run; UPDATE kant.schedule SET expanded_until = NULL, last_tick = NULL; "
     "SELECT kant.expand_schedules('2026-03-20 00:00+00')",
     "SELECT job_id, slot_at, business_date, due_at FROM kant.expected_run"),
    ("trigger_ready_gates dry run", "SELECT * FROM kant.trigger_ready_gates(dry_run => true)",
     "SELECT kind, business_date, target, outcome, detail FROM kant.action_log"),
    ("recover_failed_runs dry run", "SELECT * FROM kant.recover_failed_runs(dry_run => true)",
     "SELECT kind, business_date, target, outcome, detail FROM kant.action_log"),
]
for label, act, read in WRITERS:
    results = []
    for c in COMBOS:
        cur.execute("SAVEPOINT w")
        set_combo(c)
        cur.execute(act, (AS_OF,) if "%s" in act else ())
        results.append(rows_canon(read))
        cur.execute("ROLLBACK TO SAVEPOINT w")
    if label.startswith("run_checks"):
        tap(durations(results[0]), "%s: the compared texts hold durations of two digits or more (%s)"
            % (label, ", ".join(durations(results[0])[:6])))
    for c, got in zip(COMBOS[1:], results[1:]):
        tap(got == results[0] and len(results[0]) > 0,
            "%s: the same rows under %s (%d rows)" % (label, name(c), len(results[0])),
            first_difference(results[0], got))

cur.execute("ROLLBACK")
tap.plan()
