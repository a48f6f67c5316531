#!/usr/bin/python3
"""kant.collect_glue against a fake Glue over real HTTP that verifies every SigV4
signature with botocore and validates every request and reply against
botocore's Glue model (test/fakes/fake_glue.py): the simulated month arrives
whole, paged; a second collection reads only what is new; Glue triggers become
schedules; throttling is retried; bad credentials, a dead endpoint and missing
environment variables end the collection with a recorded error (never a
secret) while earlier data stays.  Prints TAP lines."""
import os
import time
import sys
from types import SimpleNamespace

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import fresh_db, tap  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes"))
from fake_glue import FakeGlue  # noqa: E402

DB = "kant_glue_collector"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def main():
    conn, cur = fresh_db(DB)
    glue = FakeGlue(secret_key=SECRET).start()
    glue.page_size = 10         # about 4 pages of runs per job
    cur.execute("CREATE EXTENSION kant")
    cur.execute("SET kant.http_retry_base = '20ms'")
    cur.execute("""SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo', display_name => 'HEGEL',
                       bd_argument => '--business_date', bd_offset_days => -1)""")
    cur.execute("SELECT kant.set_endpoint('hegel', %s, region => 'ap-northeast-1', max_parallel => 8)",
                (glue.url("/"),))
    cur.execute("SELECT kant.set_credentials('hegel', 'AKIDEXAMPLE', %s)", (SECRET,))
    expected_runs = sum(len(r) for r in glue.data.glue_runs.values())

    def collect():
        del conn.notices[:]
        cur.execute("""SELECT requests, retries, pages, jobs, runs_seen, runs_new, runs_changed,
                              schedules, sqlstate, error FROM kant.collect_glue('hegel')""")
        return cur.fetchone()

    r = collect()
    tap(r[8] is None and r[3] == 40 and r[4] == expected_runs and r[5] == expected_runs - 1,
        "first collection: 40 jobs, all %d runs read, %d new (one malformed record quarantined): %s"
        % (expected_runs, expected_runs - 1, (r,)))
    tap(glue.good_signatures == r[0] and glue.bad_signatures == 0,
        "botocore verified the SigV4 signature of all %d requests" % glue.good_signatures)
    tap(not glue.invalid_replies and glue.replies.get("GetJobRuns", 0) == r[2],
        "every request and reply validates against botocore's Glue model (%s)" % glue.replies,
        "\n".join(glue.invalid_replies[:3]))
    heads = [q["headers"] for q in glue.requests]
    tap(all(h.get("Content-Type") == "application/x-amz-json-1.1" for h in heads)
        and all(h.get("X-Amz-Target", "").startswith("AWSGlue.") for h in heads)
        and not any("X-Amz-Security-Token" in h for h in heads),
        "JSON 1.1 content type, X-Amz-Target, and no empty session-token header")
    pages = sum((len(runs) + 9) // 10 for runs in glue.data.glue_runs.values())
    tap(r[2] == pages and glue.replies.get("GetJobs") == 4,
        "paged with NextToken: GetJobs 4 pages, GetJobRuns %d pages of 10 (%d expected)" % (r[2], pages))
    cur.execute("SELECT count(*) FROM kant.job_run")
    tap(cur.fetchone()[0] == expected_runs - 1, "the runs are in kant.job_run")
    cur.execute("""SELECT count(*), count(*) FILTER (WHERE x.source = 'glue_trigger'), min(x.cron), min(x.time_zone)
                   FROM kant.schedule x JOIN kant.job j USING (job_id)""")
    s = cur.fetchone()
    tap(s[0] == 40 and s[1] == 40 and s[3] == "UTC",
        "Glue triggers became the jobs' schedules, read in UTC: %s" % (s,))
    cur.execute("SELECT count(*), min(max_retries), max(max_retries) FROM kant.job")
    m = cur.fetchone()
    tap(m == (40, 1, 1), "each job's MaxRetries is kept (the checks wait for a configured retry): %s" % (m,))

    # again: only what is new (the newest page of each job, back to the watermark)
    before = len(glue.requests)
    r = collect()
    tap(r[8] is None and r[5] == 0 and r[2] == 40 and r[4] == 400 and r[7] == 0,
        "second collection reads back only to the newest run it holds (one page per job), "
        "finds nothing new, changes no schedule: %s" % (r,))

    # temporary credentials: the session token is sent, and signed
    cur.execute("SELECT kant.set_credentials('hegel', 'AKIDEXAMPLE', %s, 'FwoGZXIvYXdzEXAMPLETOKEN')", (SECRET,))
    before = len(glue.requests)
    r = collect()
    heads = [q["headers"] for q in glue.requests[before:]]
    tap(r[8] is None and all(h.get("X-Amz-Security-Token") == "FwoGZXIvYXdzEXAMPLETOKEN" for h in heads)
        and "x-amz-security-token" in heads[0]["Authorization"],
        "a session token goes in X-Amz-Security-Token, signed")
    cur.execute("SELECT kant.set_credentials('hegel', 'AKIDEXAMPLE', %s)", (SECRET,))

    # a user's schedule wins over the trigger's
    cur.execute("SELECT kant.set_schedule('hegel', '0 3 * * *', job => 'hegel_export_users')")
    collect()
    cur.execute("""SELECT x.cron, x.source FROM kant.schedule x JOIN kant.job j USING (job_id)
                   WHERE j.name = 'hegel_export_users'""")
    tap(cur.fetchone() == ("0 3 * * *", "user"), "a schedule a user set is kept")

    # Only an ACTIVATED trigger fires (botocore TriggerState: CREATING,
    # CREATED, ACTIVATING, ACTIVATED, DEACTIVATING, DEACTIVATED, DELETING,
    # UPDATING; CreateTrigger without StartOnCreation leaves it CREATED), and a
    # job started by two scheduled triggers has both schedules
    job = "hegel_export_classes"
    glue.extra_triggers = [
        {"Name": "orders_weekdays", "Type": "SCHEDULED", "State": "ACTIVATED",
         "Schedule": "cron(0 18 ? * MON-FRI *)", "Actions": [{"JobName": job}]},
        {"Name": "orders_weekends", "Type": "SCHEDULED", "State": "ACTIVATED",
         "Schedule": "cron(0 21 ? * SAT,SUN *)", "Actions": [{"JobName": job}]},
        {"Name": "orders_never_started", "Type": "SCHEDULED", "State": "CREATED",
         "Schedule": "cron(30 5 * * ? *)", "Actions": [{"JobName": job}]},
        {"Name": "orders_on_demand", "Type": "ON_DEMAND", "State": "ACTIVATED",
         "Actions": [{"JobName": job}]}]

    def schedules_of(name):
        cur.execute("""SELECT x.cron, x.source FROM kant.schedule x JOIN kant.job j USING (job_id)
                       WHERE j.name = %s ORDER BY 1""", (name,))
        return cur.fetchall()

    def slots_of(name):
        # the expected slots of one fixed week, Monday 2026-03-09 to Sunday
        cur.execute("""SELECT count(*) FILTER (WHERE (e.slot_at AT TIME ZONE 'UTC')::time = '18:00'
                                               AND extract(isodow FROM e.slot_at AT TIME ZONE 'UTC') <= 5),
                              count(*) FILTER (WHERE (e.slot_at AT TIME ZONE 'UTC')::time = '21:00'
                                               AND extract(isodow FROM e.slot_at AT TIME ZONE 'UTC') >= 6),
                              count(*)
                       FROM kant.expected_run e JOIN kant.job j USING (job_id)
                       WHERE j.name = %s AND e.slot_at >= '2026-03-09 00:00+00' AND e.slot_at < '2026-03-16 00:00+00'""",
                    (name,))
        return cur.fetchone()

    if job in glue.data.glue_runs:
        nightly = schedules_of(job)
        r = collect()
        got = schedules_of(job)
        # expand the fixed week (the collector's schedules start today)
        cur.execute("UPDATE kant.schedule x SET active_from = '2026-03-01' FROM kant.job j "
                    "WHERE j.job_id = x.job_id AND j.name = %s", (job,))
        cur.execute("""SELECT kant._reexpand(array_agg(j.job_id)) FROM kant.job j WHERE j.name = %s""", (job,))
        cur.execute("SELECT kant.expand_schedules('2026-03-17 00:00+00')")
        week = slots_of(job)
        tap(r[8] is None and ("cron(0 18 ? * MON-FRI *)", "glue_trigger") in got
            and ("cron(0 21 ? * SAT,SUN *)", "glue_trigger") in got
            and not any("30 5" in c for c, _ in got) and len(got) == len(nightly) + 2
            and week[0] == 5 and week[1] == 2,
            "a job started by two scheduled triggers has both schedules (5 weekday slots at 18:00 UTC and 2 "
            "weekend slots at 21:00 in a week, beside its nightly one); a trigger still CREATED and an "
            "on-demand one give none: %s %s" % (got, week))
        # a trigger deactivated: its schedule goes, the other stays
        glue.extra_triggers[1]["State"] = "DEACTIVATED"
        r = collect()
        got = schedules_of(job)
        tap(r[8] is None and ("cron(0 18 ? * MON-FRI *)", "glue_trigger") in got
            and not any("SAT,SUN" in c for c, _ in got),
            "a trigger deactivated loses its schedule at the next collection; the other stays: %s" % (got,))
        # one being updated (UpdateTrigger on an activated trigger passes
        # through UPDATING) keeps its schedule and its slots
        glue.extra_triggers[0]["State"] = "UPDATING"
        r = collect()
        got = schedules_of(job)
        tap(r[8] is None and ("cron(0 18 ? * MON-FRI *)", "glue_trigger") in got and slots_of(job)[0] == 5,
            "a trigger UPDATING keeps its schedule and its slots: %s" % (got,))
        glue.extra_triggers = []
        collect()
    else:
        tap(False, "the simulated platform has a job %s" % job)

    # A run in flight longer than the re-read window, behind runs every few
    # minutes (Glue's default job timeout is 2880 minutes; a job may run for
    # up to 7 days): kant reads back to the oldest run it holds as unfinished
    # and sees it end
    job = "hegel_export_classes"
    cur.execute("UPDATE kant.system SET collect_overlap_seconds = 3600")
    cur.execute("SELECT c.read_until, c.updated_at FROM kant.collect_state c JOIN kant.job j USING (job_id) "
                "WHERE j.name = %s", (job,))
    mark = cur.fetchone()
    now = time.time()
    tmpl = dict(glue.data.glue_runs[job][0])
    tmpl.pop("TriggerName", None)

    def glue_run(i, started, state, completed=None):
        r = dict(tmpl, Id="jr_long_%03d_" % i + "%056d" % i, StartedOn=started, LastModifiedOn=completed or started,
                 JobRunState=state)
        r.pop("CompletedOn", None)
        if completed:
            r.update(CompletedOn=completed, ExecutionTime=int(completed - started))
        return r

    long_run = glue_run(0, now - 5 * 3600, "RUNNING")
    glue.data.glue_runs[job].insert(0, long_run)
    collect()
    # 30 short runs after it, every five minutes: three pages of ten
    glue.data.glue_runs[job][0:0] = [glue_run(i, now - 3 * 3600 + 300 * (30 - i), "SUCCEEDED",
                                              now - 3 * 3600 + 300 * (30 - i) + 120) for i in range(1, 31)]
    collect()
    long_run.update(JobRunState="SUCCEEDED", CompletedOn=now - 60, LastModifiedOn=now - 60, ExecutionTime=5 * 3600 - 60)
    r = collect()
    cur.execute("SELECT state::text FROM kant.job_run WHERE external_id = %s", (long_run["Id"],))
    st = cur.fetchone()
    tap(r[8] is None and st == ("succeeded",),
        "a run in flight for 5 hours behind 30 newer runs (window 1 hour) is read again until it ends: %s" % (st,))
    # as it was, for what follows
    del glue.data.glue_runs[job][0:31]
    cur.execute("DELETE FROM kant.job_run WHERE external_id LIKE 'jr\\_long\\_%%'")
    cur.execute("UPDATE kant.collect_state c SET read_until = %s, updated_at = %s FROM kant.job j "
                "WHERE j.job_id = c.job_id AND j.name = %s", (mark[0], mark[1], job))
    cur.execute("UPDATE kant.system SET collect_overlap_seconds = 86400")

    # throttling is retried
    glue.throttle_next = 3
    r = collect()
    tap(r[8] is None and r[1] >= 3, "ThrottlingException (HTTP 400) is retried: %d retries" % r[1])

    # wrong secret: recorded, not raised; no secret in the record or the warning
    cur.execute("SELECT kant.set_credentials('hegel', 'AKIDEXAMPLE', 'not-the-secret-1234')")
    r = collect()
    warn = " ".join(conn.notices)
    tap(r[8] == "28000" and "InvalidSignatureException" in r[9] and "not-the-secret" not in r[9]
        and "not-the-secret" not in warn and "collection" in warn,
        "a bad secret ends the collection with SQLSTATE 28000, recorded and warned: %s" % r[9][:90])
    cur.execute("SELECT last_error IS NOT NULL, last_success_at IS NOT NULL, seconds_since_success < 60 "
                "FROM kant.collector_health WHERE system = 'hegel'")
    tap(cur.fetchone() == (True, True, True), "kant.collector_health shows the error and the last success")

    # credentials from the server's environment: a missing variable is named, never a value
    cur.execute("SELECT kant.set_credentials('hegel', 'KANT_TEST_AWS_KEY_ID', 'KANT_TEST_AWS_SECRET', from_env => true)")
    r = collect()
    tap(r[8] == "28000" and "KANT_TEST_AWS_KEY_ID" in r[9],
        "from_env: a variable the server does not have is named in the error: %s" % r[9][:100])

    # a dead endpoint
    # (credentials are bound to the endpoint they were set for: set them again after it moves)
    cur.execute("SET kant.http_max_retries = 1")
    cur.execute("SELECT kant.set_endpoint('hegel', 'http://127.0.0.1:1/')")
    cur.execute("SELECT kant.set_credentials('hegel', 'AKIDEXAMPLE', %s)", (SECRET,))
    r = collect()
    tap(r[8] == "08001" and "127.0.0.1" in r[9], "an endpoint that is down: SQLSTATE 08001 recorded: %s" % r[9][:80])
    cur.execute("RESET kant.http_max_retries")

    # access denied
    cur.execute("SELECT kant.set_endpoint('hegel', %s)", (glue.url("/"),))
    cur.execute("SELECT kant.set_credentials('hegel', 'AKIDEXAMPLE', %s)", (SECRET,))
    glue.deny = True
    r = collect()
    glue.deny = False
    tap(r[8] == "28000" and "AccessDeniedException" in r[9], "AccessDeniedException: SQLSTATE 28000: %s" % r[9][:80])
    cur.execute("SELECT count(*) FROM kant.job_run")
    tap(cur.fetchone()[0] == expected_runs - 1, "failed collections lost nothing that was already there")
    cur.execute("SELECT count(*) FROM kant.collection WHERE ended_at IS NULL")
    tap(cur.fetchone()[0] == 0, "every collection is recorded as ended")

    # faults while reading: each tested on a fresh watermark
    cur.execute("TRUNCATE kant.collect_state")
    cur.execute("TRUNCATE kant.job_run")
    victim = "hegel_export_grades"

    # a page that times out mid-way: what was read stays, the watermark of the
    # jobs not read back to their end does not move, the next collection completes them
    # (the system's own timeout, not the setting's)
    cur.execute("SELECT kant.set_endpoint('hegel', timeout => '500ms')")
    cur.execute("SET kant.http_max_retries = 0")
    glue.faults = [("GetJobRuns", lambda p: p.get("JobName") == victim and "NextToken" in p, "hang")]
    r = collect()
    cur.execute("SELECT count(*) FROM kant.job_run")
    kept = cur.fetchone()[0]
    cur.execute("""SELECT count(*) FILTER (WHERE j.name = %s), count(*) FROM kant.collect_state c
                   JOIN kant.job j USING (job_id)""", (victim,))
    victim_marks, marks = cur.fetchone()
    tap(r[8] == "08006" and 0 < kept < expected_runs - 1 and victim_marks == 0,
        "a page that times out mid-way: collection recorded as failed (08006), the %d runs read before "
        "it stay, the watermark of %s did not move (%d jobs marked read)" % (kept, victim, marks))
    cur.execute("UPDATE kant.system SET timeout_ms = NULL")
    cur.execute("RESET kant.http_max_retries")
    r = collect()
    cur.execute("SELECT count(*) FROM kant.job_run")
    tap(r[8] is None and cur.fetchone()[0] == expected_runs - 1,
        "the next collection reads what the failed one missed: all runs are there")

    # a reply cut short is retried; a 503 and a 429 with Retry-After too
    glue.faults = [("GetJobRuns", None, "truncated"), ("GetJobRuns", None, "503"), ("GetJobs", None, "429")]
    r = collect()
    tap(r[8] is None and r[1] >= 3 and not glue.faults,
        "a truncated reply, a 503 and a 429 are retried: %d retries" % r[1])

    # malformed JSON: a clear error, recorded, nothing half-ingested from that page
    glue.faults = [("GetJobRuns", lambda p: p.get("JobName") == victim, "malformed")]
    r = collect()
    tap(r[8] == "08P01" and "not JSON" in r[9],
        "a malformed reply is SQLSTATE 08P01 (protocol violation), recorded: %s" % r[9][:110])

    # a job deleted between GetJobs and GetJobRuns is skipped, not an error
    glue.deleted = {victim}
    r = collect()
    glue.deleted = set()
    tap(r[8] is None, "a job deleted between GetJobs and GetJobRuns is skipped (EntityNotFoundException)")

    # two collections of the same system at once: one waits, no duplicates
    import threading
    glue.latency = 0.01
    results = []

    def other():
        c2 = psycopg2.connect(dbname=DB)
        c2.autocommit = True
        k2 = c2.cursor()
        k2.execute("SET client_min_messages = warning")
        k2.execute("SELECT started_at, ended_at, sqlstate FROM kant.collect_glue('hegel')")
        results.append(k2.fetchone())
        c2.close()

    threads = [threading.Thread(target=other) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    glue.latency = 0
    (s1, e1, q1), (s2, e2, q2) = sorted(results)
    cur.execute("SELECT count(*), count(DISTINCT (job_id, external_id, attempt)) FROM kant.job_run")
    total, distinct = cur.fetchone()
    tap(q1 is None and q2 is None and e1 <= e2 and total == distinct == expected_runs - 1,
        "two collections at once: both succeed, one after the other, no duplicate run")
    cur.execute("SELECT count(*), min(times_seen) FROM kant.rejected WHERE reason LIKE 'unknown Glue state%%'")
    rows, seen = cur.fetchone()
    tap(rows == 1 and seen >= 2,
        "an unknown JobRunState is quarantined once, not dropped: the collections that read it "
        "again counted it on its row (%d row, seen %s times)" % (rows, seen))

    # a malformed run among the newest, which every collection reads again
    # (the overlap): two collections keep one row, seen twice
    newest = glue.data.glue_runs["hegel_export_users"][0]
    bad = dict(newest, Id="jr_newest_malformed", JobRunState="PENDING_EXECUTION",
               StartedOn=newest["StartedOn"] + 600, LastModifiedOn=newest["StartedOn"] + 601)
    bad.pop("CompletedOn", None)
    glue.data.glue_runs["hegel_export_users"].insert(0, bad)
    cur.execute("SELECT count(*) FROM kant.rejected")
    before = cur.fetchone()[0]
    r1 = collect()
    r2 = collect()
    cur.execute("""SELECT count(*), min(times_seen), min(batch_id) < min(last_batch_id),
                          bool_and(last_seen_at > rejected_at)
                   FROM kant.rejected WHERE record->>'Id' = 'jr_newest_malformed'""")
    rows, seen, first_kept, later = cur.fetchone()
    cur.execute("SELECT count(*) FROM kant.rejected")
    after = cur.fetchone()[0]
    tap(r1[8] is None and r2[8] is None and rows == 1 and seen == 2 and first_kept and later
        and after == before + 1,
        "a malformed run two overlapping collections read is one row in kant.rejected, seen twice, "
        "with the batch of its first sighting (%d row, seen %s times)" % (rows, seen))
    glue.data.glue_runs["hegel_export_users"].pop(0)

    # the table of secrets is the owner's only
    cur.execute("CREATE ROLE kant_glue_reader")
    cur.execute("GRANT USAGE ON SCHEMA kant TO kant_glue_reader")
    cur.execute("GRANT SELECT ON kant.collector_health TO kant_glue_reader")
    cur.execute("SET ROLE kant_glue_reader")
    try:
        cur.execute("SELECT secret FROM kant.credential")
        denied = False
    except psycopg2.Error as e:
        denied = e.pgcode == "42501"
    cur.execute("RESET ROLE")
    cur.execute("DROP OWNED BY kant_glue_reader")
    cur.execute("DROP ROLE kant_glue_reader")
    tap(denied, "a role that may read collector health cannot read kant.credential")
    # kant.credential_sources reads kant.credential, but none of its secret columns
    cur.execute("""SELECT count(*) FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
                   JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                   WHERE d.classid = 'pg_rewrite'::regclass
                     AND d.refobjid IN ('kant.credential'::regclass, 'kant.token_cache'::regclass)
                     AND a.attname IN ('principal', 'secret', 'session_token')""")
    tap(cur.fetchone()[0] == 0, "no view reads a secret column of kant.credential or kant.token_cache")

    watermarks(conn, cur)
    glue.stop()
    conn.close()
    tap.plan()


def watermarks(conn, cur):
    """Only runs the ingestion accepted move a job's watermark, and never past
    the start of the collection that moves it: a quarantined record, or a
    valid run Glue says starts in 2100, must not make later collections stop
    paging after their first page (they did: kant.collect_state.read_until
    went to 2100, the next 250 runs on two pages came 199 short, for good,
    and collector_health said all was well).

    The watermark is relative to the server's clock by design (no collection
    reads runs that have not started), so the runs that arrive between two
    collections start just after the earlier one's kant.collection.started_at;
    nothing depends on the calendar day.  The system's overlap is 0: the
    watermark alone decides where reading stops."""
    job = "hume_export_loans"
    far = 4102444800                       # 2100-01-01T00:00:00Z
    first_on = 1767225600                  # 2026-01-01T00:00:00Z

    def run(rid, started, **kw):
        r = {"Id": rid, "Attempt": 0, "JobName": job, "JobRunState": "SUCCEEDED",
             "StartedOn": started, "CompletedOn": started + 30, "ExecutionTime": 30}
        r.update(kw)
        return r

    first = run("jr_hume_first", first_on)
    future = run("jr_hume_future", far)
    # two records kant quarantines, both valid in botocore's model: a state
    # Glue's enum lacks, and an attempt past kant's limit (100000)
    data = SimpleNamespace(glue_runs={job: [
        run("jr_hume_bad_attempt", far + 86400, Attempt=100000),
        run("jr_hume_bad_state", far, JobRunState="PENDING_EXECUTION"),
        first]})
    glue = FakeGlue(secret_key=SECRET, data=data).start()
    cur.execute("SELECT kant.add_system('hume', 'glue', 'UTC')")
    cur.execute("SELECT kant.set_endpoint('hume', %s, region => 'ap-northeast-1', overlap => '0 seconds')",
                (glue.url("/"),))
    cur.execute("SELECT kant.set_credentials('hume', 'AKIDEXAMPLE', %s)", (SECRET,))

    def collect():
        before = glue.replies.get("GetJobRuns", 0)
        cur.execute("SELECT collection_id, started_at, sqlstate, error FROM kant.collect_glue('hume')")
        cid, started, state, error = cur.fetchone()
        return cid, started, state, error, glue.replies.get("GetJobRuns", 0) - before

    def mark_is(sql_expr, cid):
        """read_until = sql_expr, in the terms of collection cid (k.started_at)."""
        cur.execute("""SELECT c.read_until, c.read_until = (%s) FROM kant.collect_state c
                         JOIN kant.job j USING (job_id) JOIN kant.system s USING (system_id)
                         JOIN kant.collection k ON k.collection_id = %%s
                        WHERE s.name = 'hume' AND j.name = %%s""" % sql_expr, (cid, job))
        return cur.fetchone() or (None, False)

    def held(pattern):
        cur.execute("""SELECT count(*) FROM kant.job_run r JOIN kant.job j USING (job_id)
                         JOIN kant.system s USING (system_id)
                        WHERE s.name = 'hume' AND r.external_id LIKE %s""", (pattern,))
        return cur.fetchone()[0]

    # 1: two quarantined records claim 2100; the one accepted run is of 2026-01-01
    cid, started, state, error, pages = collect()
    cur.execute("""SELECT count(*) FROM kant.rejected r JOIN kant.system s USING (system_id)
                    WHERE s.name = 'hume'""")
    rejected = cur.fetchone()[0]
    mark, ok = mark_is("least(to_timestamp(%d), k.started_at)" % first_on, cid)
    tap(state is None and rejected == 2 and held("jr_hume_first") == 1 and ok,
        "glue: quarantined records move no watermark: 2 quarantined, read_until %s "
        "(the accepted run's start, or the collection's if earlier)" % mark)

    # 2: a valid run that starts in 2100 is kept as Glue says, the watermark stops at the collection's start
    data.glue_runs[job] = [future, first]
    cid, started2, state, error, pages = collect()
    cur.execute("""SELECT r.started_at = to_timestamp(%s) FROM kant.job_run r
                    WHERE r.external_id = 'jr_hume_future'""", (far,))
    kept = cur.fetchone()
    mark, ok = mark_is("k.started_at", cid)
    tap(state is None and kept == (True,) and ok and mark == started2,
        "glue: a valid run starting in 2100 is ingested as Glue says, and the watermark goes no "
        "further than the collection's start: read_until %s" % mark)
    glue_invalid = list(glue.invalid_replies)

    # 3: 250 new runs, started after collection 2: two pages, newest first, the 2100 run on top
    s2 = started2.timestamp()
    new = [run("jr_hume_new_%03d" % i, s2 + i) for i in range(250, 0, -1)]
    data.glue_runs[job] = [future] + new + [first]
    cid, started3, state, error, pages = collect()
    n3 = held("jr_hume_new_%")
    tap(state is None and pages == 2 and n3 == 250,
        "glue: after those, a collection of 250 new runs on two pages reads both and holds all 250: "
        "%d pages, %d held" % (pages, n3))

    # 4: a watermark an older kant left in 2100 is not trusted: 250 more new runs, all held
    cur.execute("""UPDATE kant.collect_state c SET read_until = to_timestamp(%s) FROM kant.job j
                    WHERE j.job_id = c.job_id AND j.name = %s""", (far, job))
    s3 = started3.timestamp()
    newer = [run("jr_hume_newer_%03d" % i, s3 + i) for i in range(250, 0, -1)]
    data.glue_runs[job] = [future] + newer + new + [first]
    cid, started4, state, error, pages = collect()
    n4 = held("jr_hume_newer_%")
    mark, ok = mark_is("k.started_at", cid)
    tap(state is None and n4 == 250 and pages >= 2 and ok,
        "glue: a watermark an older kant left in 2100 is read as the time it was written: the next "
        "250 runs all held (%d pages), read_until back to the collection's start" % pages)
    tap(not glue_invalid and not glue.invalid_replies,
        "glue: every reply of these collections validates against botocore's Glue model",
        "\n".join((glue_invalid + glue.invalid_replies)[:3]))
    glue.stop()


main()
