#!/usr/bin/python3
"""Replies kant cannot use (issue 11): the fake Glue and the fake Airflow answer
valid JSON of the wrong shape, non-JSON 200s, bodies PostgreSQL cannot store,
absurd total_entries, pages with more items than asked for, a NextToken that
repeats or never ends, and error pages of internal services.  For each kind:
the collection is recorded as failed with a message naming the operation, the
host and the field (08P01; 54000 where a cap is hit), kant.collector_health is
not green, the cursor (kant.system.collected_until) and the watermarks
(kant.collect_state) do not move, nothing already ingested is lost; and the
next good collection reads what the bad ones missed.  Error replies show only
the fields the API defines, cleaned and capped.  The acting calls
(kant._glue_call, kant._airflow_post) refuse unusable 2xx replies alike.
Prints TAP lines."""
import copy
import datetime as dt
import os
import sys

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import fresh_db, tap  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes"))
from fake_airflow import FakeAirflow  # noqa: E402
from fake_glue import FakeGlue  # noqa: E402
from simulate import platform  # noqa: E402

DB = "kant_collector_replies"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
# what an internal service's error page says: never echoed into kant.collection
INTERNAL = "db-primary.corp.internal:5432 build 7731"
HTML = "<html><body><h1>Bad Gateway</h1><p>upstream %s</p></body></html>" % INTERNAL
# the baseline collections see the data up to here; the rest arrives later
CUT = dt.datetime(2026, 11, 10, tzinfo=dt.timezone.utc)


class System:
    """One collected system: its collections and what they must not change."""

    def __init__(self, conn, cur, name, kind, label=None):
        self.conn, self.cur, self.name, self.kind = conn, cur, name, kind
        self.label = label or kind

    def collect(self):
        del self.conn.notices[:]
        self.cur.execute("SELECT sqlstate, error FROM kant.collect_%s(%%s)" % self.kind, (self.name,))
        return self.cur.fetchone()

    def snapshot(self):
        c = self.cur
        c.execute("""SELECT r.job_id, r.external_id, r.attempt FROM kant.job_run r
                     JOIN kant.job j USING (job_id) JOIN kant.system s USING (system_id) WHERE s.name = %s""",
                  (self.name,))
        runs = set(c.fetchall())
        c.execute("""SELECT j.name, c.read_until FROM kant.collect_state c JOIN kant.job j USING (job_id)
                     JOIN kant.system s USING (system_id) WHERE s.name = %s ORDER BY 1""", (self.name,))
        marks = dict(c.fetchall())
        c.execute("SELECT collected_until FROM kant.system WHERE name = %s", (self.name,))
        cursor = c.fetchone()[0]
        c.execute("SELECT last_success_at FROM kant.collector_health WHERE system = %s", (self.name,))
        return {"runs": runs, "marks": marks, "cursor": cursor, "success": c.fetchone()[0]}

    def bad(self, label, sqlstate, needles, marks="all"):
        """A collection that must fail: two TAP lines.  marks: "all" (no
        watermark moves), a job name (its watermark does not move) or None."""
        before = self.snapshot()
        r = self.collect()
        after = self.snapshot()
        err = r[1] or ""
        warned = " ".join(self.conn.notices)
        tap(r[0] == sqlstate and all(n in err for n in needles) and "127.0.0.1" in err
            and INTERNAL not in err and INTERNAL not in warned and "failed" in warned,
            "%s %s: recorded as failed [%s], naming the operation, the host and the field: %s"
            % (self.label, label, r[0], err[:160]), "expected %s with %s" % (sqlstate, needles))
        self.cur.execute("SELECT last_error, last_success_at FROM kant.collector_health WHERE system = %s",
                         (self.name,))
        last_error, last_success = self.cur.fetchone()
        if marks == "all":
            marks_kept = after["marks"] == before["marks"]
        elif marks:
            marks_kept = after["marks"].get(marks) == before["marks"].get(marks)
        else:
            marks_kept = True
        tap(last_error == r[1] and last_success == before["success"] and after["cursor"] == before["cursor"]
            and marks_kept and after["runs"] >= before["runs"],
            "%s %s: collector_health not green, cursor%s unchanged, nothing ingested lost (%d runs)"
            % (self.label, label, {"all": " and watermarks", None: ""}.get(marks, " and the watermark of " + str(marks)),
               len(after["runs"])))


def glue_part(conn, cur):
    glue = FakeGlue(secret_key=SECRET).start()
    glue.page_size = 10
    cur.execute("""SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo', bd_argument => '--business_date',
                                          bd_offset_days => -1)""")
    cur.execute("SELECT kant.set_endpoint('hegel', %s, region => 'ap-northeast-1', max_parallel => 8)",
                (glue.url("/"),))
    cur.execute("SELECT kant.set_credentials('hegel', 'AKIDEXAMPLE', %s)", (SECRET,))
    s = System(conn, cur, "hegel", "glue")
    expected = sum(len(r) for r in glue.data.glue_runs.values()) - 1     # one malformed record
    glue.hide_after = CUT.timestamp()
    r = s.collect()
    base = s.snapshot()
    tap(r[0] is None and 0 < len(base["runs"]) < expected and len(base["marks"]) == 40,
        "glue: a good collection of what existed on %s: %d runs, 40 watermarks" % (CUT.date(), len(base["runs"])))
    glue.hide_after = None      # the rest of the month has happened since

    def fault(op, kind, match=None):
        glue.faults = [(op, match, kind)]

    def sticky(op, kind, match=None):
        glue.sticky = [(op, match, kind)]

    # GetJobs
    fault("GetJobs", {"reply": {}})
    s.bad("GetJobs {}", "08P01", ['Glue GetJobs on 127.0.0.1 answered HTTP 200 with a body kant cannot use: "Jobs" is missing'])
    fault("GetJobs", {"reply": {"Jobs": "temporarily unavailable"}})
    s.bad("GetJobs Jobs a string", "08P01", ['"Jobs" must be an array, not string'])
    fault("GetJobs", {"reply": {"Jobs": None}})
    s.bad("GetJobs Jobs null", "08P01", ['"Jobs" must be an array, not null'])
    fault("GetJobs", {"reply": {"Jobs": [{"Name": 5}]}})
    s.bad("GetJobs a Name not a string", "08P01", ['"Jobs"[0].Name must be a string, not number'])
    fault("GetJobs", {"reply": {"Jobs": ["hegel_x"]}})
    s.bad("GetJobs a job not an object", "08P01", ['"Jobs"[0] must be an object, not string'])
    fault("GetJobs", {"reply": {"Jobs": [{"Name": "n" * 256}]}})
    s.bad("GetJobs a Name longer than NameString", "08P01", ['"Jobs"[0].Name is longer than 255 characters'])
    fault("GetJobs", {"reply": {"Jobs": [], "NextToken": 7}})
    s.bad("GetJobs NextToken a number", "08P01", ['"NextToken" must be a string, not number'])
    fault("GetJobs", {"reply": [{"Name": "hegel_x"}]})
    s.bad("GetJobs an array", "08P01", ["it must be a JSON object, not an array"])
    fault("GetJobs", {"raw": HTML})
    s.bad("GetJobs an HTML 200", "08P01", ["it is not JSON (syntax error at byte 0)"])
    fault("GetJobs", {"raw": b'{"Jobs": [{"Name": "hegel_\xff"}]}'})
    s.bad("GetJobs not UTF-8", "08P01", ["it is not UTF-8 text"])
    fault("GetJobs", {"raw": '{"Jobs": [], "x": "a\\u0000b"}'})
    s.bad("GetJobs \\u0000", "08P01", ["\\u0000, which PostgreSQL text cannot hold"])
    fault("GetJobs", {"raw": '{"Jobs": [], "x": 1e999999}'})
    s.bad("GetJobs a number numeric cannot hold", "08P01", ["a number longer than 100 characters or beyond 1e300"])
    fault("GetJobs", {"raw": '{"Jobs": ' + "[" * 100000 + "]" * 100000 + "}"})
    s.bad("GetJobs nested 100,000 deep", "08P01", ["nested deeper than 512 levels"])
    fault("GetJobs", {"raw": '{"Jobs": [' + "0," * 4100000 + "0]}"})
    s.bad("GetJobs 4.1 million values", "08P01", ["more than 4000000 values"])
    fault("GetJobs", {"raw": '{"Jobs": [{"Name": "hegel_x"'})
    s.bad("GetJobs cut short", "08P01", ["it ends before the document does"])
    fault("GetJobs", {"extra": 5})
    s.bad("GetJobs more jobs than MaxResults", "08P01", ['"Jobs" holds 1005 items, more than the 1000 kant asked for'])
    sticky("GetJobs", "endless_token")
    cur.execute("SET kant.collect_max_pages = 3")
    s.bad("GetJobs NextToken never ends", "54000", ["GetJobs goes on past 3 pages, more than kant.collect_max_pages (3)"])
    cur.execute("RESET kant.collect_max_pages")
    sticky("GetJobs", "repeat_token")
    s.bad("GetJobs NextToken repeats", "08P01", ['"NextToken" repeats the token kant sent'])
    glue.sticky = []
    cur.execute("SET kant.collect_max_items = 30")
    s.bad("GetJobs more jobs than kant.collect_max_items", "54000",
          ["GetJobs lists more than 30 jobs, more than kant.collect_max_items (30)"])
    cur.execute("RESET kant.collect_max_items")

    # GetJobRuns, every job's first page
    sticky("GetJobRuns", {"reply": {}})
    s.bad("GetJobRuns {}", "08P01", ['GetJobRuns on 127.0.0.1 answered HTTP 200 with a body kant cannot use: "JobRuns" is missing'])
    sticky("GetJobRuns", {"reply": {"JobRuns": "temporarily unavailable"}})
    s.bad("GetJobRuns JobRuns a string", "08P01", ['"JobRuns" must be an array, not string'])
    sticky("GetJobRuns", {"extra": 50})
    s.bad("GetJobRuns more runs than MaxResults", "08P01", ["more than the 200 kant asked for"])
    sticky("GetJobRuns", {"raw": "temporarily unavailable", "content_type": "text/plain"})
    s.bad("GetJobRuns a text 200", "08P01", ["it is not JSON"])
    # one job's second page
    victim = "hegel_export_grades"
    second = (lambda p: p.get("JobName") == victim and "NextToken" in p)
    sticky("GetJobRuns", {"reply": {"JobRuns": [], "NextToken": {"o": 1}}}, second)
    s.bad("GetJobRuns NextToken an object", "08P01", ['"NextToken" must be a string, not object'], marks=victim)
    sticky("GetJobRuns", "repeat_token", lambda p: p.get("JobName") == victim)
    s.bad("GetJobRuns NextToken repeats", "08P01", ['"NextToken" repeats the token kant sent'], marks=victim)
    # a job read back to its first run (no watermark) whose NextToken never ends
    cur.execute("""DELETE FROM kant.collect_state c USING kant.job j
                   WHERE j.job_id = c.job_id AND j.name = %s""", (victim,))
    sticky("GetJobRuns", "endless_token", lambda p: p.get("JobName") == victim)
    cur.execute("SET kant.collect_max_pages = 8")
    s.bad("GetJobRuns NextToken never ends", "54000",
          ['GetJobRuns of job "%s" goes on past 8 pages' % victim], marks=victim)
    cur.execute("RESET kant.collect_max_pages")
    # an error whose message names another exception: the type decides, not the text
    sticky("GetJobRuns", {"reply": {"__type": "AccessDeniedException", "message": "EntityNotFoundException"},
                          "status": 400}, lambda p: p.get("JobName") == victim)
    s.bad("GetJobRuns AccessDenied mentioning EntityNotFound", "28000", ["AccessDeniedException"], marks=victim)
    glue.sticky = []

    # error replies: only Glue's __type and message, cleaned and capped
    cur.execute("SET kant.http_max_retries = 0")
    fault("GetJobs", {"raw": HTML, "status": 502})
    s.bad("GetJobs a proxy's 502 page", "38000", ["Glue GetJobs on 127.0.0.1 failed with HTTP 502",
                                                  "is not a Glue error document; kant does not show it"])
    fault("GetJobs", {"reply": {"__type": "<b>%s</b>" % INTERNAL, "message": INTERNAL}, "status": 400})
    s.bad("GetJobs an error whose type is not a name", "38000", ["is not a Glue error document"])
    cur.execute("RESET kant.http_max_retries")
    fault("GetJobs", {"reply": {"__type": "com.amazonaws.glue#ValidationException:http://internal.amazon.com/coral/",
                                "message": "<!channel>\n\tline two\u202e\u0085" + "x" * 2000}, "status": 400})
    r = s.collect()
    tap(r[0] == "38000" and "failed with HTTP 400: ValidationException: <!channel> line two x" in r[1]
        and not any(c in r[1] for c in "\n\t\u202e\u0085") and r[1].endswith("...") and len(r[1]) < 420,
        "glue: an error's type loses its namespace and suffix, its message its control characters, "
        "capped at 300 characters: %d characters" % len(r[1]), repr(r[1][:200]))

    # the next good collection reads what all those missed
    r = s.collect()
    after = s.snapshot()
    tap(r[0] is None and len(after["runs"]) == expected and after["runs"] >= base["runs"]
        and len(after["marks"]) == 40 and all(after["marks"][j] >= base["marks"][j] for j in base["marks"]),
        "glue: the next good collection reads all %d runs, the bad ones missed none (%s)" % (expected, r))
    cur.execute("SELECT last_error IS NULL, last_success_at > %s FROM kant.collector_health WHERE system = 'hegel'",
                (base["success"],))
    tap(cur.fetchone() == (True, True), "glue: collector_health is green again")

    # GetTriggers comes after the runs: its failure keeps them, and the schedules
    cur.execute("SELECT count(*) FROM kant.schedule x JOIN kant.job j USING (job_id) WHERE x.source = 'glue_trigger'")
    schedules = cur.fetchone()[0]
    fault("GetTriggers", {"reply": {"Triggers": [{"Name": "t", "Type": "SCHEDULED", "Schedule": "cron(0 1 * * ? *)",
                                                  "Actions": {"JobName": "hegel_export_users"}}]}})
    s.bad("GetTriggers Actions an object", "08P01", ['"Triggers"[0].Actions must be an array, not object'], marks=None)
    fault("GetTriggers", {"reply": {"Triggers": [{"Name": "t", "Type": "SCHEDULED", "Schedule": "cron(0 1 * * ? *)",
                                                  "Actions": [{"JobName": ["hegel_export_users"]}]}]}})
    s.bad("GetTriggers JobName an array", "08P01", ['"Triggers"[0].Actions[0].JobName must be a string, not array'], marks=None)
    cur.execute("SELECT count(*) FROM kant.schedule x JOIN kant.job j USING (job_id) WHERE x.source = 'glue_trigger'")
    tap(cur.fetchone()[0] == schedules == 40, "glue: the schedules the triggers gave stay (%d)" % schedules)
    tap(not glue.invalid_replies, "glue: every normal reply of the fake still validates against botocore's model",
        "\n".join(glue.invalid_replies[:3]))
    return glue


def acting_glue(cur, glue):
    def call(body='{"JobName": "hegel_export_users"}'):
        cur.execute("SELECT status, body, error_type FROM kant._glue_call('hegel', 'StartJobRun', %s)", (body,))
        return cur.fetchone()

    r = call()
    tap(r[0] == 200 and r[1].startswith('{"JobRunId": "jr_restart_') and r[2] is None,
        "_glue_call StartJobRun: the JobRunId, as JSON: %s" % (r,))
    glue.faults = [("StartJobRun", None, {"reply": {"JobRunId": 12}})]
    try:
        call()
        e = None
    except psycopg2.Error as x:
        e = x
    tap(e is not None and e.pgcode == "08P01" and
        'Glue StartJobRun on 127.0.0.1 answered HTTP 200 with a body kant cannot use: "JobRunId" must be a string, not number'
        in e.pgerror, "_glue_call: a 200 without a usable JobRunId is an error (08P01): %s"
        % (e.pgerror.splitlines()[0] if e else None))
    glue.faults = [("StartJobRun", None, {"raw": HTML, "status": 400})]
    r = call()
    tap(r[0] == 400 and r[2] is None and INTERNAL not in r[1] and "not a Glue error document" in r[1],
        "_glue_call: an error page that is not Glue's is not returned: %s" % (r,))
    glue.faults = [("StartJobRun", None, {"reply": {"__type": "com.amazonaws.glue#ConcurrentRunsExceededException",
                                                    "message": "Concurrent runs exceeded\r\n" + "y" * 900},
                                          "status": 400})]
    r = call()
    tap(r[0] == 400 and r[2] == "ConcurrentRunsExceededException"
        and r[1].startswith("ConcurrentRunsExceededException: Concurrent runs exceeded yyy")
        and "\n" not in r[1] and len(r[1]) < 360,
        "_glue_call: an error is its type and its message, cleaned and capped (%d characters)" % len(r[1]))


def bulk_data(n):
    """n DAG runs of one DAG, one task each (copies of a simulated task instance)."""
    template = platform(malformed=False).task_instances[0]
    start = dt.datetime(2026, 9, 1, 4, 30, tzinfo=dt.timezone.utc)

    class Data:
        task_instances = []
    for i in range(n):
        t = copy.deepcopy(template)
        logical = start + dt.timedelta(minutes=i)
        t.update({"dag_id": "bulk_dag", "task_id": "only_task", "dag_run_id": "scheduled__" + logical.isoformat(),
                  "execution_date": logical.isoformat(), "state": "success", "try_number": 1})
        Data.task_instances.append(t)
    return Data


def airflow_part(conn, cur, version):
    af = FakeAirflow(version=version).start()
    name = "socrates_" + version
    cur.execute("""SELECT kant.add_system(%s, 'airflow', 'Asia/Tokyo', default_pipeline => 'socrates_daily')""",
                (name,))
    cur.execute("SELECT kant.set_endpoint(%s, %s, max_parallel => 8)", (name, af.url("/")))
    if version == "v1":
        cur.execute("SELECT kant.set_credentials(%s, 'kant', 's3cret-pw')", (name,))
    else:
        cur.execute("SELECT kant.set_credentials(%s, NULL, %s)", (name, af.token))
    s = System(conn, cur, name, "airflow", "airflow " + version)
    total = len(af.data.task_instances)
    af.hide_after = str(CUT.date())
    r = s.collect()
    # as if that collection had run then: the cursor where the data stopped
    cur.execute("UPDATE kant.system SET collected_until = %s WHERE name = %s", (CUT, name))
    base = s.snapshot()
    tap(r[0] is None and 0 < len(base["runs"]) < total,
        "%s: a good collection of what existed on %s: %d of %d task instances" % (version, CUT.date(),
                                                                                 len(base["runs"]), total))
    af.hide_after = None
    v = version

    def fault(path, kind):
        af.faults = [(path, kind)]

    def sticky(path, kind):
        af.sticky = [(path, kind)]

    if version == "v1":
        fault("/dagRuns?", {"reply": {}})
        s.bad("dagRuns {}", "08P01", ['Airflow GET dagRuns on 127.0.0.1 answered HTTP 200 with a body kant cannot use: '
                                      '"dag_runs" is missing'])
    fault("/dagRuns?", {"reply": {"dag_runs": "temporarily unavailable"}})
    s.bad("dagRuns a string", "08P01", ['kant: Airflow GET dagRuns on 127.0.0.1 answered HTTP 200 with a body kant '
                                        'cannot use: "dag_runs" must be an array, not string'])
    fault("/dagRuns?", {"reply": {"dag_runs": []}})
    s.bad("dagRuns without total_entries", "08P01", ['"total_entries" is missing'])
    if version == "v1":
        fault("/dagRuns?", {"total": 10 ** 12})
        s.bad("dagRuns total_entries 10^12", "54000",
              ['GET dagRuns on 127.0.0.1: "total_entries" is 1000000000000, more than kant.collect_max_items (200000)'])
        fault("/dagRuns?", {"total": -1})
        s.bad("dagRuns total_entries -1", "08P01", ['"total_entries" must be an integer of at least 0, not -1'])
        fault("/dagRuns?", {"total": "5"})
        s.bad("dagRuns total_entries a string", "08P01", ['"total_entries" must be an integer, not string'])
        fault("/dagRuns?", {"total": 2.5})
        s.bad("dagRuns total_entries 2.5", "08P01", ['"total_entries" must be an integer of at least 0, not 2.5'])
        fault("/dagRuns?", {"raw": HTML})
        s.bad("dagRuns an HTML 200", "08P01", ["it is not JSON"])
        fault("/dagRuns?", {"reply": {"dag_runs": [{"dag_id": 1, "dag_run_id": "x"}], "total_entries": 1}})
        s.bad("dagRuns a dag_id not a string", "08P01", ['"dag_runs"[0].dag_id must be a string, not number'])
        fault("/dagRuns?", {"extra": 1})
        s.bad("dagRuns more runs than the limit", "08P01", ['"dag_runs" holds 1001 items, more than the 1000 kant asked for'])
        fault("/dagRuns?", {"empty": True})
        s.bad("dagRuns an empty first page, total_entries > 0", "08P01", ["but the first page holds no DAG runs"])
        fault("/dagRuns?", {"total": 5000})
        cur.execute("SET kant.collect_max_pages = 10")
        s.bad("dagRuns paged past kant.collect_max_pages", "54000",
              ["listing 5000 DAG runs ", " at a time takes ", " pages, more than kant.collect_max_pages (10)"])
        cur.execute("RESET kant.collect_max_pages")
        # a later page of a listing: the server pages 10 at a time
        af.max_page = 10
        fault("offset=20", {"empty": True})
        s.bad("dagRuns a later page empty", "08P01", ["but the page at offset 20 holds no DAG runs"])
        af.max_page = 100
        sticky("taskInstances", {"reply": {"task_instances": {}, "total_entries": 0}})
        s.bad("taskInstances an object", "08P01", ['GET taskInstances on 127.0.0.1 answered HTTP 200 with a body kant '
                                                   'cannot use: "task_instances" must be an array, not object'])
        sticky("taskInstances", {"empty": True})
        s.bad("taskInstances empty, total_entries > 0", "08P01", ["but the page at offset 0 holds no task instances"])
        sticky("taskInstances", {"total": 10 ** 15})
        s.bad("taskInstances total_entries 10^15", "54000", ['"total_entries" is 1000000000000000, more than kant.collect_max_items'])
        af.sticky = []
        fault("/api/v1/version", {"reply": {"version": 2}})
        s.bad("version a number", "08P01", ['GET /api/v1/version on 127.0.0.1 answered HTTP 200 with a body kant cannot use: '
                                            '"version" must be a string, not number'])
        fault("/dags?", {"reply": {"dags": [{"dag_id": "x", "schedule_interval": "daily"}], "total_entries": 1}})
        s.bad("dags a schedule_interval not an object", "08P01",
              ['"dags"[0].schedule_interval must be an object, not string'], marks=None)
        cur.execute("SET kant.http_max_retries = 0")
        fault("/dagRuns?", {"raw": HTML, "status": 502})
        s.bad("dagRuns a proxy's 502 page", "38000", ["Airflow GET dagRuns on 127.0.0.1 failed with HTTP 502",
                                                      "is not an Airflow error document; kant does not show it"])
        fault("/dagRuns?", {"raw": HTML, "status": 401})
        s.bad("dagRuns a login page with 401", "28000", ["failed with HTTP 401"])
        cur.execute("RESET kant.http_max_retries")
        fault("/dagRuns?", {"reply": {"type": "about:blank", "status": 400, "title": "Bad\x07 Request\x1b[31m",
                                      "detail": "line\n" * 400}, "status": 400})
        r = s.collect()
        tap(r[0] == "38000" and "failed with HTTP 400: Bad Request [31m: line line" in r[1]
            and not any(c in r[1] for c in "\n\x07\x1b") and r[1].endswith("...") and len(r[1]) < 420,
            "v1: a problem document's title and detail, control characters removed, capped (%d characters)"
            % len(r[1]), repr(r[1][:200]))
    else:
        fault("/dagRuns?", {"reply": {"dag_runs": [{"dag_id": "socrates_daily", "dag_run_id": None}],
                                      "total_entries": 1}})
        s.bad("dagRuns a dag_run_id null (required in v2)", "08P01",
              ['"dag_runs"[0].dag_run_id must be a string, not null'])
        sticky("taskInstances", {"extra": 3})
        s.bad("taskInstances more than the limit", "08P01", ['"task_instances" holds 1003 items'])
        af.sticky = []
        fault("/dags?", {"reply": {"dags": [{"dag_id": "x", "timetable_summary": 30}], "total_entries": 1}})
        s.bad("dags a timetable_summary a number", "08P01", ['"dags"[0].timetable_summary must be a string, not number'],
              marks=None)

    # the next good collection reads what all those missed
    r = s.collect()
    after = s.snapshot()
    tap(r[0] is None and len(after["runs"]) == total and after["runs"] >= base["runs"]
        and after["cursor"] != base["cursor"],
        "%s: the next good collection reads all %d task instances and moves the cursor" % (v, total))
    tap(not af.invalid_replies, "%s: every normal reply of the fake still validates against the spec" % v,
        "\n".join(af.invalid_replies[:3]))
    return af


def acting_airflow(cur, af):
    def post(run_id):
        cur.execute("SELECT status, body, api FROM kant._airflow_post('socrates_v1', 'dags/socrates_daily/dagRuns', %s)",
                    ('{"dag_run_id": "%s", "logical_date": "2026-11-10T00:00:00Z", "conf": {}}' % run_id,))
        return cur.fetchone()

    r = post("kant__a")
    tap(r[0] == 200 and '"dag_run_id": "kant__a"' in r[1], "_airflow_post: the DAG run, as JSON")
    r = post("kant__a")
    tap(r[0] == 409 and r[1] == "Conflict: DAGRun with DAG ID: 'socrates_daily' and DAGRun ID: 'kant__a' already exists",
        "_airflow_post: an error is its problem document's title and detail: %s" % (r,))
    af.faults = [("/dagRuns", {"reply": {"state": "queued"}})]
    try:
        post("kant__b")
        e = None
    except psycopg2.Error as x:
        e = x
    tap(e is not None and e.pgcode == "08P01" and '"dag_id" is missing' in e.pgerror,
        "_airflow_post: a 200 that is not a DAG run is an error (08P01): %s" % (e.pgerror.splitlines()[0] if e else None))
    cur.execute("SET kant.http_max_retries = 0")
    af.faults = [("/dagRuns", {"raw": HTML, "status": 502})]
    r = post("kant__c")
    cur.execute("RESET kant.http_max_retries")
    tap(r[0] == 502 and INTERNAL not in r[1] and "not an Airflow error document" in r[1],
        "_airflow_post: an error page that is not Airflow's is not returned: %s" % (r,))


def thousands(conn, cur):
    """1,500 DAG runs at once (300 under valgrind): the listing in pages of 100,
    the task instances in rounds of at most 256 requests."""
    n = 1500 if float(os.environ.get("KANT_TIME_FACTOR", "1")) <= 1 else 300
    af = FakeAirflow(version="v1", data=bulk_data(n)).start()
    cur.execute("SELECT kant.add_system('bulk', 'airflow', 'UTC')")
    cur.execute("SELECT kant.set_endpoint('bulk', %s, max_parallel => 16)", (af.url("/"),))
    cur.execute("SELECT kant.set_credentials('bulk', 'kant', 's3cret-pw')")
    s = System(conn, cur, "bulk", "airflow")
    r = s.collect()
    after = s.snapshot()
    ti = [q for q in af.requests if "/taskInstances" in q["path"]]
    tap(r[0] is None and len(after["runs"]) == n and len(ti) == n and af.max_in_flight <= 16,
        "%d DAG runs: every task instance read, %d requests, at most %d in flight: %s"
        % (n, len(af.requests), af.max_in_flight, (r,)))
    af.stop()


def main():
    conn, cur = fresh_db(DB)
    cur.execute("CREATE EXTENSION kant")
    cur.execute("SET kant.http_retry_base = '20ms'")
    glue = glue_part(conn, cur)
    acting_glue(cur, glue)
    glue.stop()
    af = airflow_part(conn, cur, "v1")
    acting_airflow(cur, af)
    af.stop()
    airflow_part(conn, cur, "v2").stop()
    thousands(conn, cur)
    conn.close()
    tap.plan()


main()
