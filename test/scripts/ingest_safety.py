#!/usr/bin/python3
"""No payload crashes the server, no bad record loses its batch, and the text
and jsonb forms of a payload ingest the same records (issue 11).

- Prefix loop: every prefix of valid payloads of every source, passed as a
  driver passes a string parameter (it resolves to the text overload), gets a
  clean error with an SQLSTATE; the same connection goes on working and the
  postmaster never restarts.
- Hostile records: each lands in kant.rejected with its field, a 22xxx (or
  the jsonb error's) SQLSTATE and its text, and the good records of the same
  payload land.
- Text and jsonb forms of a corpus of good and hostile payloads of every
  source give the same job_run rows, results and rejections.
- A database that is not UTF8 (LATIN1) treats non-ASCII \\u escapes as
  jsonb_in does there.
Prints TAP lines."""
import json
import os
import sys

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import fresh_db, tap  # noqa: E402

DB = "kant_ingest_safety"

GLUE = json.dumps({"JobRuns": [
    {"Id": "jr_a1", "Attempt": 0, "JobName": "export_users", "JobRunState": "SUCCEEDED",
     "StartedOn": 1732459800.123, "CompletedOn": 1732460100, "LastModifiedOn": 1732460100,
     "Arguments": {"--business_date": "2024-11-24"}, "ExecutionTime": 300},
    {"Id": "jr_a2", "Attempt": 1, "JobName": "export_users", "JobRunState": "FAILED",
     "PreviousRunId": "jr_a1", "StartedOn": "2024-11-24 15:00:00.123000+09:00",
     "ErrorMessage": "An error occurred while calling o97.save.\n\tat x"}],
    "NextToken": "eyJ0"}, indent=1)
GLUE_ONE = json.dumps({"JobRun": {"Id": "jr_b1", "JobName": "load", "JobRunState": "RUNNING",
                                  "StartedOn": 1732459800}})
AIRFLOW_V1 = json.dumps({"task_instances": [
    {"dag_id": "daily", "task_id": "load_users", "dag_run_id": "scheduled__2024-11-23T21:00:00+00:00",
     "execution_date": "2024-11-23T21:00:00+00:00", "start_date": "2024-11-24T21:00:05.123456+00:00",
     "end_date": "2024-11-24T21:10:00+00:00", "state": "success", "try_number": 1, "map_index": -1,
     "max_tries": 2, "operator": "GCSToBigQueryOperator"},
    {"dag_id": "daily", "task_id": "fan", "dag_run_id": "scheduled__2024-11-23T21:00:00+00:00",
     "execution_date": "2024-11-23T21:00:00+00:00", "start_date": None, "end_date": None,
     "state": None, "try_number": 0, "map_index": 3}], "total_entries": 2})
AIRFLOW_V2 = json.dumps({"task_instances": [
    {"dag_id": "daily", "task_id": "load_users", "dag_run_id": "manual__2024-11-24T03:00:00+00:00",
     "logical_date": None, "run_after": "2024-11-24T03:00:00Z", "start_date": "2024-11-24T03:00:01Z",
     "end_date": None, "state": "running", "try_number": 1, "map_index": -1}], "total_entries": 1})
OL_ONE = json.dumps({
    "eventType": "COMPLETE", "eventTime": "2024-11-24T21:10:00.000Z",
    "run": {"runId": "0193a1b2-0000-7000-8000-000000000001",
            "facets": {"nominalTime": {"nominalStartTime": "2024-11-23T21:00:00Z"},
                       "airflow": {"taskInstance": {"try_number": 1}}}},
    "job": {"namespace": "composer-prod", "name": "daily.load_users"},
    "producer": "https://github.com/apache/airflow/tree/providers-openlineage/1.14.0"})
OL_LIST = json.dumps([
    {"eventType": "START", "eventTime": "2024-11-24T21:00:05.5Z",
     "run": {"runId": "0193a1b2-0000-7000-8000-000000000002"},
     "job": {"namespace": "composer-prod", "name": "daily.load_orders"}},
    {"eventType": "FAIL", "eventTime": "2024-11-24T21:05:00Z",
     "run": {"runId": "0193a1b2-0000-7000-8000-000000000002",
             "facets": {"errorMessage": {"message": "boom", "programmingLanguage": "python"}}},
     "job": {"namespace": "s3://bucket", "name": "daily.load_orders"}}])
REPORTS = json.dumps({"runs": [
    {"job": "nightly.export", "run_id": "r-1", "state": "success", "attempt": 1,
     "business_date": "2024-11-24", "started_at": "2024-11-24T01:00:00Z",
     "ended_at": "2024-11-24T01:10:00Z", "details": {"rows": 12}},
    {"job": "nightly.export", "run_id": "r-2", "state": "running", "started_at": "2024-11-25T01:00:00Z"}]})

# (function, system) of each source; OpenLineage takes no system
SOURCES = {
    "glue": ("kant.ingest_glue_job_runs", "hegel"),
    "airflow": ("kant.ingest_airflow_task_instances", "socrates"),
    "openlineage": ("kant.ingest_openlineage", None),
    "report": ("kant.ingest_reports", "manual1"),
}
VALID = [("glue", GLUE), ("glue", GLUE_ONE), ("airflow", AIRFLOW_V1), ("airflow", AIRFLOW_V2),
         ("openlineage", OL_ONE), ("openlineage", OL_LIST), ("report", REPORTS)]


def call_sql(source, cast=""):
    fn, system = SOURCES[source]
    if system is None:
        return "SELECT received, inserted, updated, unchanged, rejected FROM %s(%%s%s)" % (fn, cast)
    return ("SELECT received, inserted, updated, unchanged, rejected FROM %s('%s', %%s%s)"
            % (fn, system, cast))


def ingest(cur, source, payload, cast=""):
    cur.execute(call_sql(source, cast), (payload,))
    return cur.fetchone()


def try_ingest(cur, source, payload, cast=""):
    """(result, None) or (None, (sqlstate, message))."""
    try:
        return ingest(cur, source, payload, cast), None
    except psycopg2.Error as e:
        return None, (e.pgcode, (e.diag.message_primary or "") + " / " + (e.diag.message_detail or ""))


def setup_systems(cur):
    cur.execute("SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo')")
    cur.execute("SELECT kant.add_system('socrates', 'airflow', 'Asia/Tokyo', ol_namespace => 'composer-prod')")
    cur.execute("SELECT kant.add_system('manual1', 'manual', 'UTC')")


def prefix_loop(conn, cur):
    cur.execute("SELECT pg_postmaster_start_time(), pg_backend_pid()")
    started, pid = cur.fetchone()

    # the three calls of the issue, verbatim
    verbatim = [
        "SELECT * FROM kant.ingest_glue_job_runs('hegel', '{\"JobRuns\":');",
        "SELECT * FROM kant.ingest_airflow_task_instances('socrates', '{\"task_instances\":');",
        "SELECT * FROM kant.ingest_reports('manual1', '{\"runs\":');",
    ]
    states = []
    for sql in verbatim:
        try:
            cur.execute(sql)
            states.append(None)
        except psycopg2.Error as e:
            states.append(e.pgcode)
    tap(states == ["22P02"] * 3, "the issue's three calls ('{\"JobRuns\":' ...) are clean errors 22P02",
        states)

    calls = bad = 0
    worst = []
    for source, payload in VALID:
        for n in range(len(payload)):
            res, err = try_ingest(cur, source, payload[:n])
            calls += 1
            if err is None or not err[0]:
                bad += 1
                worst.append((source, n, res, err))
        res, err = try_ingest(cur, source, payload)
        if err is not None:
            bad += 1
            worst.append((source, "whole", res, err))
    tap(bad == 0, "every prefix of %d valid payloads (%d calls, every source) is an error with an "
        "SQLSTATE; the whole payloads ingest" % (len(VALID), calls), worst[:5])
    cur.execute("SELECT pg_postmaster_start_time(), pg_backend_pid()")
    tap(cur.fetchone() == (started, pid), "the same connection goes on working and the postmaster "
        "never restarted (pg_postmaster_start_time unchanged)")

    # no recursion: a document nested 20 million deep is one clean error
    deep = "[" * 20000000
    res, err = try_ingest(cur, "glue", deep)
    tap(err is not None and err[0] == "22P02", "20 MB of '[' (unterminated) is a clean 22P02", err)
    deep = '{"JobRuns": ' + "[" * 5000000 + "]" * 5000000 + "}"
    res, err = try_ingest(cur, "glue", deep)
    tap(res == (1, 0, 0, 0, 1), "a list whose element nests 5 million deep: the element is "
        "quarantined, the call returns", (res, err))
    cur.execute("SELECT sqlstate, record IS NULL, length(record_text) FROM kant.rejected "
                "ORDER BY rejected_id DESC LIMIT 1")
    row = cur.fetchone()
    tap(row == ("54001", True, 9999998), "... with jsonb_in's error (54001) and its text, whole", row)
    cur.execute("SELECT pg_postmaster_start_time()")
    tap(cur.fetchone()[0] == started, "still no restart")


def hostile(cur):
    """Each bad record is quarantined with its field; the good ones land."""
    good = {"Id": "jr_ok", "JobName": "good_job", "JobRunState": "SUCCEEDED", "StartedOn": 1732459800}

    def glue_run(i, **kw):
        r = dict(good, Id="jr_h%d" % i)
        r.update(kw)
        return r

    recs = [
        json.dumps(good),
        json.dumps(glue_run(1, Attempt=2147483647)),
        json.dumps(glue_run(2, ErrorMessage="x")).replace('"x"', '"a\\u0000b"'),
        json.dumps(glue_run(3, ErrorMessage="x")).replace('"x"', '"a\\ud800b"'),
        json.dumps(glue_run(4, PreviousRunId="p" * 3000)),
        json.dumps(glue_run(5, JobName="bad\nname")),
        json.dumps(glue_run(6, JobName=" padded")),
        json.dumps(glue_run(7, Extra=0)).replace('"Extra": 0', '"Extra": 1e1000000'),
        json.dumps(glue_run(8, Deep=0)).replace('"Deep": 0', '"Deep": ' + "[" * 100000 + "]" * 100000),
        json.dumps(glue_run(9, Id="jr\u0007bell")),
        json.dumps(glue_run(10, StartedOn="0024-11-24T00:00:00Z")),
        json.dumps(glue_run(11, Attempt=-1)),
        json.dumps(dict(good, Id="jr_ok2", JobName="good\tjob")),  # TAB inside a Glue job name
    ]
    payload = '{"JobRuns": [' + ",\n".join(recs) + ']}'
    res = ingest(cur, "glue", payload)
    tap(res == (13, 2, 0, 0, 11), "Glue: 2 good records land, 11 hostile ones are quarantined", res)
    cur.execute("""SELECT item_index, field, sqlstate, record IS NOT NULL, record_text IS NOT NULL,
                          coalesce(record->>'Id', substring(record_text from '"Id": "([^"]*)"'))
                   FROM kant.rejected WHERE batch_id = (SELECT max(batch_id) FROM kant.ingest_batch)
                   ORDER BY item_index""")
    got = cur.fetchall()
    want = [
        (1, "$.JobRuns[1].Attempt", "22003", True, False, "jr_h1"),
        (2, "$.JobRuns[2].ErrorMessage", "22P05", False, True, "jr_h2"),
        (3, "$.JobRuns[3].ErrorMessage", "22P02", False, True, "jr_h3"),
        (4, "$.JobRuns[4].PreviousRunId", "22001", True, False, "jr_h4"),
        (5, "$.JobRuns[5].JobName", "22021", True, False, "jr_h5"),
        (6, "$.JobRuns[6].JobName", "22023", True, False, "jr_h6"),
        (7, "$.JobRuns[7]", "22003", False, True, "jr_h7"),
        (8, "$.JobRuns[8]", "54001", False, True, "jr_h8"),
        (9, "$.JobRuns[9].Id", "22021", True, False, "jr\u0007bell"),
        (10, "$.JobRuns[10].StartedOn", "22008", True, False, "jr_h10"),
        (11, "$.JobRuns[11].Attempt", "22003", True, False, "jr_h11"),
    ]
    tap(got == want, "each: its field, its SQLSTATE, and the record whole (jsonb, or its text "
        "when jsonb cannot hold it)", "\n".join(map(str, got)))
    cur.execute("SELECT record_text FROM kant.rejected WHERE field = '$.JobRuns[2].ErrorMessage' "
                "ORDER BY rejected_id DESC LIMIT 1")
    tap(cur.fetchone()[0] == recs[2], "the \\u0000 record's text is kept byte for byte")
    cur.execute("SELECT j.name, r.external_id FROM kant.job_run r JOIN kant.job j USING (job_id) "
                "WHERE r.external_id LIKE 'jr_ok%' ORDER BY 2")
    tap(cur.fetchall() == [("good_job", "jr_ok"), ("good\tjob", "jr_ok2")],
        "the good records are in kant.job_run")

    # OpenLineage: a namespace that cannot name a system
    ev = json.loads(OL_ONE)
    events = []
    for i, ns in enumerate(["composer-prod", "ns-with-blank ", "\tns", "ns\u0085x", "x" * 1001, ""]):
        e = json.loads(json.dumps(ev))
        e["job"]["namespace"] = ns
        e["run"]["runId"] = "ol-%d" % i
        events.append(e)
    res = ingest(cur, "openlineage", json.dumps(events))
    tap(res == (6, 1, 0, 0, 5), "OpenLineage: namespaces with a trailing blank, a TAB, a C1 control, "
        "1001 bytes or none are quarantined; the good event lands", res)
    cur.execute("""SELECT field, sqlstate FROM kant.rejected
                   WHERE batch_id = (SELECT max(batch_id) FROM kant.ingest_batch) ORDER BY item_index""")
    got = cur.fetchall()
    tap(got == [("$[1].job.namespace", "22023"), ("$[2].job.namespace", "22021"),
                ("$[3].job.namespace", "22021"), ("$[4].job.namespace", "22001"),
                ("$[5].job.namespace", "22023")],
        "... each with the namespace's path and a 22xxx SQLSTATE", got)
    cur.execute("SELECT count(*) FROM kant.system WHERE name <> btrim(name) OR name ~ '[[:cntrl:]]'")
    tap(cur.fetchone()[0] == 0, "no system was registered with a bad name")
    # an administrator's mapping is honoured whatever the namespace looks like
    cur.execute("SELECT kant.add_system('odd', 'openlineage', ol_namespace => 'odd ns\t')")
    e = json.loads(json.dumps(ev))
    e["job"]["namespace"] = "odd ns\t"
    e["run"]["runId"] = "ol-odd"
    res = ingest(cur, "openlineage", json.dumps([e]))
    cur.execute("SELECT s.name FROM kant.job_run r JOIN kant.job j USING (job_id) "
                "JOIN kant.system s USING (system_id) WHERE r.external_id = 'ol-odd'")
    tap(res == (1, 1, 0, 0, 0) and cur.fetchall() == [("odd",)],
        "a namespace an administrator mapped (kant.system.ol_namespace) lands whatever it looks "
        "like: only new systems must have valid names", res)
    many = []
    for i in range(257):
        e = json.loads(json.dumps(ev))
        e["job"]["namespace"] = "ns-%d" % i
        many.append(e)
    cur.execute("SELECT count(*) FROM kant.system")
    before = cur.fetchone()[0]
    res, err = try_ingest(cur, "openlineage", json.dumps(many))
    cur.execute("SELECT count(*) FROM kant.system")
    tap(err is not None and err[0] == "54000" and cur.fetchone()[0] == before,
        "a payload spanning 257 namespaces is one clean error (54000) before any system is "
        "registered, not an out-of-lock-slots failure halfway", err)

    # Airflow: ranges of try_number and map_index, names
    ti = json.loads(AIRFLOW_V1)["task_instances"][0]
    tis = []
    for i, kw in enumerate([{}, {"try_number": 2147483647}, {"try_number": -1}, {"map_index": -2},
                            {"task_id": "a\u001fb"}, {"dag_id": "d" * 995, "task_id": "t" * 10},
                            {"execution_date": "99999-01-01T00:00:00Z"},
                            {"operator": json.loads("[" * 150 + "]" * 150)}]):
        t = dict(ti, dag_run_id="run_%d" % i)
        t.update(kw)
        tis.append(t)
    res = ingest(cur, "airflow", json.dumps({"task_instances": tis, "total_entries": len(tis)}))
    tap(res == (8, 1, 0, 0, 7), "Airflow: try_number, map_index, names, dates and a deep detail "
        "out of range are quarantined; the good one lands", res)
    cur.execute("""SELECT field, sqlstate FROM kant.rejected
                   WHERE batch_id = (SELECT max(batch_id) FROM kant.ingest_batch) ORDER BY item_index""")
    got = cur.fetchall()
    tap(got == [("$.task_instances[1].try_number", "22003"), ("$.task_instances[2].try_number", "22003"),
                ("$.task_instances[3].map_index", "22003"), ("$.task_instances[4].task_id", "22021"),
                ("$.task_instances[5].task_id", "22001"), ("$.task_instances[6].execution_date", "22007"),
                ("$.task_instances[7].operator", "22023")],
        "... each with its field and a 22xxx SQLSTATE", got)

    # Reports: attempt range, dates, names
    runs = [{"job": "j", "run_id": "r%d" % i, "state": "success", "business_date": "2024-11-24"}
            for i in range(5)]
    runs[1]["attempt"] = 2147483647
    runs[2]["business_date"] = "0001-01-01"
    runs[3]["job"] = "j\r"
    runs[4]["run_id"] = ""
    res = ingest(cur, "report", json.dumps({"runs": runs}))
    tap(res == (5, 1, 0, 0, 4), "reports: attempt, business date, job and run_id out of range are "
        "quarantined; the good one lands", res)
    cur.execute("""SELECT field, sqlstate FROM kant.rejected
                   WHERE batch_id = (SELECT max(batch_id) FROM kant.ingest_batch) ORDER BY item_index""")
    got = cur.fetchall()
    tap(got == [("$.runs[1].attempt", "22003"), ("$.runs[2].business_date", "22008"),
                ("$.runs[3].job", "22021"), ("$.runs[4].run_id", "22023")],
        "... each with its field and a 22xxx SQLSTATE", got)

    # duplicate root keys: the last one counts (as in jsonb); null is absent
    dup = ('{"JobRuns": [{"Id": "jr_dup1", "JobName": "dup", "JobRunState": "SUCCEEDED", '
           '"StartedOn": 1732459800}], "Job\\u0052uns": [{"Id": "jr_dup2", "JobName": "dup", '
           '"JobRunState": "SUCCEEDED", "StartedOn": 1732459800}]}')
    r_text = ingest(cur, "glue", dup)
    cur.execute("SELECT string_agg(external_id, ',') FROM kant.job_run WHERE external_id LIKE 'jr_dup%'")
    tap(r_text == (1, 1, 0, 0, 0) and cur.fetchone()[0] == "jr_dup2",
        "duplicate root keys (the second spelled Job\\u0052uns): the last one is the list", r_text)
    res, err = try_ingest(cur, "glue", '{"JobRuns": [], "JobRuns": null}')
    tap(err is not None and err[0] == "2203A", "... and a last one that is null counts as absent", err)

    # keep_payloads keeps a text payload whole, \u0000 and all
    cur.execute("SET kant.keep_payloads = on")
    res = ingest(cur, "glue", payload)
    cur.execute("SELECT payload IS NULL, payload_text = %s FROM kant.ingest_batch "
                "ORDER BY batch_id DESC LIMIT 1", (payload,))
    tap(cur.fetchone() == (True, True), "kant.keep_payloads keeps a text payload as text "
        "(jsonb could not hold its \\u0000)")
    cur.execute("RESET kant.keep_payloads")


# Hostile payloads for the equivalence corpus: each is valid JSON and casts to jsonb.
def corpus():
    out = list(VALID)
    g = json.loads(GLUE)
    g["JobRuns"].append({"Id": "jr_c1", "JobName": "c", "JobRunState": "RUNNING", "Attempt": 2147483647,
                         "StartedOn": 1732459800})
    g["JobRuns"].append({"Id": "jr_c2", "JobName": "c\u0001", "JobRunState": "RUNNING"})
    g["JobRuns"].append({"Id": "jr_c3", "JobName": "c", "JobRunState": "RUNNING", "StartedOn": 1732459800,
                         "PreviousRunId": "q" * 2000, "n": 1e300})
    g["JobRuns"].append({"Id": "jr_c4", "JobName": "c", "JobRunState": "RUNNING", "StartedOn": 1732459800,
                         "big": 12345678901234567890123456789012345678901234567890})
    g["JobRuns"].append("not an object")
    g["JobRuns"].append(None)
    out.append(("glue", json.dumps(g)))
    out.append(("glue", '{"JobRuns": [{"Id": "jr_e1", "JobName": "esc\\u00e9\\ud83d\\ude00", '
                        '"JobRunState": "SUCCEEDED", "StartedOn": 1732459800, "x": "\\"\\\\\\/\\b\\f\\n\\r\\t"}]}'))
    out.append(("glue", '{"JobRun": null, "Id": "jr_s1", "JobName": "single", "JobRunState": "FAILED", '
                        '"StartedOn": 1732459800}'))
    out.append(("glue", '{"JobRuns": [{"Id": "jr_d1", "JobName": "d", "JobRunState": "SUCCEEDED", '
                        '"StartedOn": 1732459800, "Arguments": {"a": ' + "[" * 600 + "]" * 600 + '}}]}'))
    out.append(("glue", '[{"Id": "jr_n1", "JobName": "n", "JobRunState": "SUCCEEDED", '
                        '"StartedOn": 1732459800, "x": 1e-1000, "y": -0.0e+5, "z": 1E400}]'))
    a = json.loads(AIRFLOW_V1)
    a["task_instances"].append(dict(a["task_instances"][0], dag_run_id="x", try_number=-5))
    a["task_instances"].append(dict(a["task_instances"][0], dag_run_id="y", state="bogus"))
    a["task_instances"].append(dict(a["task_instances"][0], dag_run_id="z", task_id=" lead"))
    out.append(("airflow", json.dumps(a)))
    ol = json.loads(OL_LIST)
    ol.append(dict(ol[0], job={"namespace": "trail ", "name": "x"}))
    ol.append(dict(ol[0], eventType="OTHER"))
    ol.append(dict(ol[0], eventTime="1899-12-31T23:59:59Z"))
    out.append(("openlineage", json.dumps(ol)))
    rp = json.loads(REPORTS)
    rp["runs"].append({"job": "j", "run_id": "r", "state": "success", "attempt": 100001})
    rp["runs"].append({"job": "j", "run_id": "r2", "state": "success", "details": [1]})
    out.append(("report", json.dumps(rp)))
    return out


def state_of(cur):
    cur.execute("""SELECT s.name, j.name, j.dag_id, j.task_id, r.external_id, r.attempt, r.business_date,
                          r.bd_source, r.state::text, r.raw_state, r.started_at, r.ended_at,
                          r.source_updated_at, r.error_message, r.previous_external_id, r.details::text
                   FROM kant.job_run r JOIN kant.job j USING (job_id) JOIN kant.system s USING (system_id)
                   ORDER BY 1, 2, 5, 6""")
    runs = cur.fetchall()
    cur.execute("""SELECT b.source, r.item_index, r.field, r.sqlstate, r.reason, r.record::text
                   FROM kant.rejected r JOIN kant.ingest_batch b USING (batch_id) ORDER BY r.rejected_id""")
    return runs, cur.fetchall()


def equivalence():
    results = {}
    states = {}
    for form, cast in (("text", ""), ("jsonb", "::jsonb")):
        conn, cur = fresh_db(DB + "_" + form)
        cur.execute("CREATE EXTENSION kant CASCADE")
        setup_systems(cur)
        results[form] = [try_ingest(cur, source, payload, cast) for source, payload in corpus()]
        states[form] = state_of(cur)
        conn.close()
    n = len(corpus())
    diff = [(i, results["text"][i], results["jsonb"][i]) for i in range(n)
            if results["text"][i] != results["jsonb"][i]]
    tap(not diff, "text and jsonb forms of %d payloads (good and hostile, every source) return the "
        "same counts" % n, diff[:3])
    tap(states["text"][0] == states["jsonb"][0] and len(states["text"][0]) > 10,
        "... and leave the same %d job_run rows" % len(states["text"][0]),
        set(states["text"][0]) ^ set(states["jsonb"][0]))
    tap(states["text"][1] == states["jsonb"][1] and len(states["text"][1]) > 10,
        "... and the same %d rejections (field, SQLSTATE, reason, record)" % len(states["text"][1]),
        set(states["text"][1]) ^ set(states["jsonb"][1]))


def latin1():
    """A LATIN1 database: \\u00e9 converts, \\u20ac (the euro sign) does not."""
    os.system("dropdb --if-exists %s_latin1 2>/dev/null" % DB)
    os.system("createdb -E LATIN1 -T template0 --locale=C %s_latin1" % DB)
    conn = psycopg2.connect(dbname=DB + "_latin1")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("CREATE EXTENSION kant CASCADE")
    setup_systems(cur)
    payload = ('{"JobRuns": [{"Id": "jr_l1", "JobName": "caf\\u00e9", "JobRunState": "SUCCEEDED", '
               '"StartedOn": 1732459800}, {"Id": "jr_l2", "JobName": "euro", "JobRunState": "SUCCEEDED", '
               '"StartedOn": 1732459800, "ErrorMessage": "\\u20ac"}]}')
    res = ingest(cur, "glue", payload)
    cur.execute("SELECT field, sqlstate, record_text IS NOT NULL FROM kant.rejected")
    rej = cur.fetchall()
    cur.execute("SELECT j.name FROM kant.job_run r JOIN kant.job j USING (job_id)")
    tap(res == (2, 1, 0, 0, 1) and rej == [("$.JobRuns[1]", "22P05", True)] and
        cur.fetchall() == [("caf\u00e9",)],
        "LATIN1 database: \\u00e9 lands converted; \\u20ac quarantines its record as jsonb_in "
        "would refuse it (22P05)", (res, rej))
    res, err = try_ingest(cur, "glue", payload, "::jsonb")
    tap(err is not None and err[0] == "22P05", "... where the jsonb form of the payload does not "
        "exist at all", err)
    conn.close()


def main():
    conn, cur = fresh_db(DB)
    cur.execute("CREATE EXTENSION kant CASCADE")
    setup_systems(cur)
    prefix_loop(conn, cur)
    hostile(cur)
    conn.close()
    equivalence()
    latin1()
    tap.plan()


if __name__ == "__main__":
    main()
