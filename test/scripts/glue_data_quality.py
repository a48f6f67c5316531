#!/usr/bin/python3
"""kant.collect_glue reads AWS Glue Data Quality results, against the fake Glue
(test/fakes/fake_glue.py: SigV4 verified with botocore, requests and replies
validated against the current Glue model where the machine has it) serving the
simulated month's results (test/fakes/simulate.py): with the system's switch
on, after the runs, the results started since the watermark are listed
(ListDataQualityResults, NextToken by hand), fetched (BatchGetDataQualityResult,
a hundred ids a request) and ingested by kant.ingest_glue_data_quality: each
rule an assertion, Dataset.*.RowCount the metric row_count, for the dataset of
the result's Glue table (or job and evaluation context) and the business date
of its job run.  The watermark, paging, throttling and a 500, access denied to
the Data Quality actions (a warning: the runs land), a malformed result among
good ones, and botocore's own parser on the fake's replies.  Prints TAP lines."""
import datetime as dt
import json
import os
import sys
import tempfile
import time
import urllib.request

import botocore.session

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import fresh_db, tap  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes"))
import fake_glue  # noqa: E402
from fake_glue import FakeGlue, strip_unknown  # noqa: E402

DB = "kant_glue_data_quality"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
JST = dt.timezone(dt.timedelta(hours=9))
TOOL = "glue_data_quality"


def main():
    conn, cur = fresh_db(DB)
    glue = FakeGlue(secret_key=SECRET).start()
    glue.page_size = 10         # the month's 61 results are 7 pages
    cur.execute("CREATE EXTENSION kant")
    cur.execute("SET kant.http_retry_base = '20ms'")
    cur.execute("""SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo', display_name => 'HEGEL',
                       bd_argument => '--business_date', bd_offset_days => -1)""")
    cur.execute("SELECT kant.set_endpoint('hegel', %s, region => 'ap-northeast-1', max_parallel => 8)",
                (glue.url("/"),))
    cur.execute("SELECT kant.set_credentials('hegel', 'AKIDEXAMPLE', %s)", (SECRET,))
    cur.execute("SELECT collect_overlap_seconds FROM kant.system WHERE name = 'hegel'")
    overlap = cur.fetchone()[0]
    results = glue.data.glue_dq_results
    runs = {r["Id"]: r for rs in glue.data.glue_runs.values() for r in rs}

    def business_date(res):
        """The run's business date as the system's rule gives it: its
        --business_date, else its start in Tokyo minus a day."""
        run = runs[res["JobRunId"]]
        if "--business_date" in run["Arguments"]:
            return dt.date.fromisoformat(run["Arguments"]["--business_date"])
        return (dt.datetime.fromtimestamp(run["StartedOn"], JST) - dt.timedelta(days=1)).date()

    def dataset(res):
        t = res.get("DataSource", {}).get("GlueTable")
        return "%s.%s" % (t["DatabaseName"], t["TableName"]) if t else "%s/%s" % (res["JobName"], res["EvaluationContext"])

    def assertion(res, rule):
        return "/".join(x for x in (res.get("RulesetName"), rule["Name"]) if x)

    def collect():
        del conn.notices[:]
        mark = len(glue.requests)
        cur.execute("""SELECT requests, retries, pages, jobs, runs_seen, runs_new, runs_changed,
                              schedules, sqlstate, error, hint FROM kant.collect_glue('hegel')""")
        return cur.fetchone(), glue.requests[mark:]

    def dq_requests(reqs, op):
        return [json.loads(q["body"]) for q in reqs if q["target"] == "AWSGlue." + op]

    def source():
        cur.execute("""SELECT d.enabled, extract(epoch FROM d.read_until)::float8, d.last_results, d.last_rejected
                       FROM kant.glue_dq_source d JOIN kant.system s USING (system_id) WHERE s.name = 'hegel'""")
        return cur.fetchone()

    def held(res):
        """Whether every rule of res is an assertion with its outcome, for its
        dataset and business date, and its RowCount the metric row_count."""
        cur.execute("""SELECT a.assertion, a.outcome, a.source_ref FROM kant.dq_assertion a
                       JOIN kant.dataset d USING (dataset_id)
                       WHERE d.name = %s AND a.business_date = %s AND a.tool = %s""",
                    (dataset(res), business_date(res), TOOL))
        got = {a: (o, ref) for a, o, ref in cur.fetchall()}
        if any(got.get(assertion(res, rule)) != (rule["Result"].lower(), res["ResultId"]) for rule in res["RuleResults"]):
            return False
        rows = [m["Dataset.*.RowCount"] for rule in res["RuleResults"]
                for m in [rule.get("EvaluatedMetrics", {})] if "Dataset.*.RowCount" in m]
        cur.execute("""SELECT m.value FROM kant.dq_metric m JOIN kant.dataset d USING (dataset_id)
                       WHERE d.name = %s AND m.business_date = %s AND m.metric = 'row_count'""",
                    (dataset(res), business_date(res)))
        value = cur.fetchone()
        return not rows or (value is not None and float(value[0]) == rows[0])

    # the switch: off by default, for glue systems only
    r, reqs = collect()
    tap(r[8] is None and not dq_requests(reqs, "ListDataQualityResults") and source() is None,
        "switched off (the default), a collection asks Glue for no Data Quality result")
    errors = []
    for sql in ("SELECT kant.set_glue_data_quality('nosuch')", "SELECT kant.set_glue_data_quality('hegel', NULL)"):
        try:
            cur.execute(sql)
            errors.append(None)
        except Exception as e:
            errors.append(e.pgcode)
    cur.execute("SELECT kant.add_system('socrates', 'airflow', 'Asia/Tokyo')")
    try:
        cur.execute("SELECT kant.set_glue_data_quality('socrates')")
        errors.append(None)
    except Exception as e:
        errors.append(e.pgcode)
    tap(errors == ["42704", "22004", "42809"],
        "set_glue_data_quality: an unknown system 42704, NULL 22004, an Airflow system 42809: %s" % errors)
    cur.execute("SELECT kant.set_glue_data_quality('hegel')")

    # 1: the month up to three nights before its end; the first collection
    # lists every result Glue has (no filter), 10 a page
    cut = sorted(r["StartedOn"] for r in results)[-10] - 1
    glue.hide_after = cut
    first = [x for x in results if x["StartedOn"] <= cut]
    r, reqs = collect()
    lists = dq_requests(reqs, "ListDataQualityResults")
    gets = dq_requests(reqs, "BatchGetDataQualityResult")
    pages = (len(first) + 9) // 10
    tokens_followed = all("NextToken" not in l if i == 0 else "NextToken" in l for i, l in enumerate(lists))
    tap(r[8] is None and len(lists) == pages and tokens_followed and not any("Filter" in l for l in lists),
        "first collection: ListDataQualityResults without a filter (every result Glue lists), "
        "%d pages of 10 by NextToken: %d requests" % (pages, len(lists)))
    asked = sorted(i for g in gets for i in g["ResultIds"])
    tap(asked == sorted(x["ResultId"] for x in first) and all(len(g["ResultIds"]) <= 100 for g in gets),
        "BatchGetDataQualityResult fetched each of the %d results listed once, at most 100 a request (%d requests)"
        % (len(first), len(gets)))
    missing = [x["ResultId"] for x in first if not held(x)]
    tap(r[8] is None and not missing,
        "every result's rules are assertions (pass / fail / error) and its Dataset.*.RowCount the metric row_count, "
        "for its Glue table's dataset and its job run's business date",
        "not held: %s" % missing[:5])
    st = source()
    tap(st[0] and abs(st[1] - max(x["StartedOn"] for x in first)) < 0.002 and st[2] == len(first) and st[3] == 0,
        "the watermark is the newest StartedOn ingested; %d results read, none quarantined: %s" % (len(first), (st,)))

    email = next(x for x in first if any(rule["Result"] == "FAIL" and "Completeness" in rule["Description"]
                                         for rule in x["RuleResults"]))
    rows = next(rule["EvaluatedMetrics"]["Dataset.*.RowCount"] for rule in email["RuleResults"]
                if "Dataset.*.RowCount" in rule["EvaluatedMetrics"])
    cur.execute("""SELECT m.value FROM kant.dq_metric m JOIN kant.dataset d USING (dataset_id)
                   WHERE d.name = 'hegel_rds_export.users' AND m.business_date = %s AND m.metric = 'null_count:email'""",
                (business_date(email),))
    nulls = cur.fetchone()
    tap(nulls is not None and float(nulls[0]) == round((1 - 0.994) * rows),
        "the night 0.6%% of the emails were missing: null_count:email %s of %d rows (Completeness 0.994)"
        % (nulls and nulls[0], rows))

    # 2: three more nights, and the job runs they belong to: the list starts at
    # the watermark minus the system's overlap, and nothing older is fetched
    wm = st[1]
    glue.hide_after = None
    r, reqs = collect()
    lists = dq_requests(reqs, "ListDataQualityResults")
    gets = dq_requests(reqs, "BatchGetDataQualityResult")
    asked = sorted(i for g in gets for i in g["ResultIds"])
    since = [l.get("Filter", {}).get("StartedAfter") for l in lists]
    tap(r[8] is None and since and all(s is not None and abs(s - (wm - overlap)) < 0.002 for s in since),
        "the next collection lists the results started after the watermark minus the overlap (%d s): %s"
        % (overlap, since[:1]))
    tap(asked == sorted(x["ResultId"] for x in results if x["StartedOn"] > wm - overlap)
        and all(held(x) for x in results),
        "it fetches only those (%d of %d: the new nights and the overlap), and every result of the month is held"
        % (len(asked), len(results)))
    cur.execute("SELECT count(*) FROM kant.dq_assertion WHERE tool = %s", (TOOL,))
    n_assertions = cur.fetchone()[0]
    tap(n_assertions == sum(len(x["RuleResults"]) for x in results),
        "one assertion per rule and night: %d" % n_assertions)

    fails = sorted((dataset(x), business_date(x), assertion(x, rule), rule["Result"].lower())
                   for x in results for rule in x["RuleResults"] if rule["Result"] != "PASS")
    cur.execute("""SELECT d.name, a.business_date, a.assertion, a.outcome FROM kant.dq_assertion a
                   JOIN kant.dataset d USING (dataset_id) WHERE a.tool = %s AND a.outcome <> 'pass'
                   ORDER BY 1, 2, 3""", (TOOL,))
    got = cur.fetchall()
    tap(got == fails and sorted(f[3] for f in fails) == ["error", "fail", "fail"],
        "the nights Glue judged FAIL (missing emails, duplicated user ids) and ERROR (a column gone) are the "
        "assertions fail and error, all other rules pass: %s" % got)

    # a result without a DataSource: an EvaluateDataQuality transform inside a job
    inline = [x for x in results if "DataSource" not in x]
    tap(len(inline) == 1 and held(inline[0]),
        "a result with no DataSource lands on the dataset <job>/<evaluation context> (%s), for its run's "
        "business date" % (inline and dataset(inline[0])))

    # 3: with no overlap, a collection with nothing new fetches nothing
    cur.execute("SELECT kant.set_endpoint('hegel', overlap => '0 seconds')")
    wm = source()[1]
    r, reqs = collect()
    lists = dq_requests(reqs, "ListDataQualityResults")
    tap(r[8] is None and len(lists) == 1 and abs(lists[0]["Filter"]["StartedAfter"] - wm) < 0.002
        and not dq_requests(reqs, "BatchGetDataQualityResult") and source()[1] == wm,
        "nothing new since the watermark: one listing, no BatchGetDataQualityResult, the watermark stays")

    # switched off, nothing is read; on again, it goes on from the watermark
    cur.execute("SELECT kant.set_glue_data_quality('hegel', false)")
    r, reqs = collect()
    off = not dq_requests(reqs, "ListDataQualityResults")
    cur.execute("SELECT kant.set_glue_data_quality('hegel', true)")
    r, reqs = collect()
    lists = dq_requests(reqs, "ListDataQualityResults")
    tap(off and len(lists) == 1 and abs(lists[0]["Filter"]["StartedAfter"] - wm) < 0.002,
        "switched off, a collection reads no result; on again, it goes on from the watermark it kept")

    # templates for results that come in later: re-evaluations of the users
    # table for nights kant holds, under other rulesets
    users = [x for x in results if x.get("RulesetName") == "users_ruleset"]
    t0 = time.time() - 3600

    def later(k, started, ruleset="backlog"):
        base = users[k % len(users)]
        x = json.loads(json.dumps(base))
        x.update(ResultId="dqresult-%s-%04d" % (ruleset, k), RulesetName="%s_%04d" % (ruleset, k),
                 StartedOn=round(started, 3), CompletedOn=round(started + 30, 3))
        return x

    # 4: a backlog of 250 results, throttled and with a 500 on each Data
    # Quality operation: retried; fetched 100, 100 and 50
    backlog = [later(k, t0 + k) for k in range(250)]
    results[0:0] = sorted(backlog, key=lambda x: -x["StartedOn"])
    glue.page_size = 100
    throttled = {"reply": {"__type": "ThrottlingException", "message": "Rate exceeded"}, "status": 400}
    glue.faults = [("ListDataQualityResults", None, throttled), ("ListDataQualityResults", None, "500"),
                   ("BatchGetDataQualityResult", None, throttled), ("BatchGetDataQualityResult", None, "500")]
    r, reqs = collect()
    gets = dq_requests(reqs, "BatchGetDataQualityResult")
    # a request retried is recorded by the fake at each attempt: each body once
    sizes = sorted(len(ids) for ids in {tuple(g["ResultIds"]) for g in gets})
    tap(r[8] is None and r[1] >= 4 and not glue.faults and all(held(x) for x in backlog),
        "ThrottlingException and HTTP 500 on ListDataQualityResults and BatchGetDataQualityResult are retried "
        "(%d retries); all 250 results of the backlog land" % r[1])
    tap(sizes == [50, 100, 100] and abs(source()[1] - max(x["StartedOn"] for x in backlog)) < 0.002,
        "the backlog is fetched 100 ids a request (%s), and the watermark moves to its newest" % sizes)

    # a listing that repeats a result (results arriving while it is paged) fetches it once
    glue.page_size = 10
    dup = [later(k, t0 + 300 + k, "dup") for k in range(3)]
    results[0:0] = sorted(dup, key=lambda x: -x["StartedOn"])

    def repeat_first(out):
        out["Results"] = out["Results"] + out["Results"][:1]
        return out
    glue.faults = [("ListDataQualityResults", None, {"mutate": repeat_first})]
    r, reqs = collect()
    asked = [i for g in dq_requests(reqs, "BatchGetDataQualityResult") for i in g["ResultIds"]]
    tap(r[8] is None and sorted(asked) == sorted(x["ResultId"] for x in dup) and all(held(x) for x in dup),
        "a result the listing repeats is fetched once: %d ids asked for 3 results" % len(asked))

    # 5: a malformed result among good ones of the same reply: it is kept in
    # kant.rejected, the others land, and it moves no watermark
    wm = source()[1]
    good = [later(k, t0 + 600 + k, "good") for k in range(3)]
    bad = later(9, t0 + 700, "bad")
    results[0:0] = [bad] + sorted(good, key=lambda x: -x["StartedOn"])

    def spoil(out):
        # a copy: the reply holds the fake's own results
        out["Results"] = [json.loads(json.dumps(x)) for x in out["Results"]]
        for x in out["Results"]:
            if x["ResultId"] == bad["ResultId"]:
                x["RuleResults"][0]["Result"] = "MAYBE"
        return out
    glue.faults = [("BatchGetDataQualityResult", None, {"mutate": spoil})]
    r, reqs = collect()
    cur.execute("""SELECT item_index, field, record->>'ResultId' FROM kant.rejected
                   WHERE source = %s ORDER BY rejected_id DESC LIMIT 1""", (TOOL,))
    rej = cur.fetchone()
    order = [i for g in dq_requests(reqs, "BatchGetDataQualityResult") for i in g["ResultIds"]]
    st = source()
    tap(r[8] is None and rej is not None and rej[2] == bad["ResultId"] and order.index(bad["ResultId"]) == rej[0]
        and all(held(x) for x in good) and not held(bad),
        "a result with Result MAYBE is quarantined (kant.rejected, item %s, %s) while the good ones of the same "
        "reply land" % (rej and rej[0], rej and rej[1]))
    tap(abs(st[1] - max(x["StartedOn"] for x in good)) < 0.002 and st[3] == 1,
        "the quarantined result, the newest, moves no watermark: it stops at the newest good one (%s rejected)"
        % st[3])
    r, reqs = collect()
    tap(r[8] is None and [i for g in dq_requests(reqs, "BatchGetDataQualityResult") for i in g["ResultIds"]]
        == [bad["ResultId"]] and held(bad) and abs(source()[1] - bad["StartedOn"]) < 0.002,
        "so the next collection reads it again and, sent whole this time, it lands")

    # 6: access denied to the Data Quality actions: the runs land, the
    # collection ends well with a hint naming the actions, nothing is lost
    def tonight(bd):
        urllib.request.urlopen(glue.url("/_fake/tonight?bd=%s" % bd)).read()

    cur.execute("SELECT count(*) FROM kant.job_run")
    runs_before = cur.fetchone()[0]
    tonight("2026-11-28")
    late = later(1, time.time() - 1200, "late")
    results.insert(0, late)
    wm = source()[1]
    glue.deny_ops = {"ListDataQualityResults"}
    r, reqs = collect()
    warn = " ".join(conn.notices)
    cur.execute("SELECT count(*) FROM kant.job_run")
    runs_now = cur.fetchone()[0]
    tap(r[8] is None and r[9] is None and r[5] == 40 and runs_now == runs_before + 40
        and "glue:ListDataQualityResults" in (r[10] or "") and "glue:BatchGetDataQualityResult" in (r[10] or "")
        and "AccessDeniedException" in warn and "WARNING" in warn,
        "AccessDeniedException on ListDataQualityResults: the 40 new runs land, the collection has no error, its "
        "hint (and a WARNING) names glue:ListDataQualityResults and glue:BatchGetDataQualityResult: %s"
        % (r[10] or "")[:160])
    cur.execute("SELECT last_error, last_error_hint FROM kant.collector_health WHERE system = 'hegel'")
    health = cur.fetchone()
    tap(health[0] is None and "glue:ListDataQualityResults" in (health[1] or "") and source()[1] == wm,
        "kant.collector_health shows no error but the hint; the watermark stayed")
    glue.deny_ops = {"BatchGetDataQualityResult"}
    r, reqs = collect()
    denied_get = r[8] is None and "BatchGetDataQualityResult" in (r[10] or "") and not held(late)
    glue.deny_ops = set()
    r, reqs = collect()
    tap(denied_get and r[8] is None and r[10] is None and held(late) and abs(source()[1] - late["StartedOn"]) < 0.002,
        "denied BatchGetDataQualityResult alone, the same; allowed again, the next collection reads the result "
        "the denied ones missed, and the hint is gone")

    # a reply that is not JSON ends the collection as a failure (08P01), the
    # runs read before it kept, no watermark moved
    wm = source()[1]
    glue.faults = [("ListDataQualityResults", None, "malformed")]
    r, reqs = collect()
    tap(r[8] == "08P01" and "ListDataQualityResults" in r[9] and source()[1] == wm,
        "a ListDataQualityResults reply that is not JSON fails the collection (08P01, recorded); the watermark "
        "stays: %s" % (r[9] or "")[:100])

    # botocore's own client, pointed at the fake, parses its replies (with
    # the reference model when the machine has it)
    parsed(glue, results)

    tap(not glue.invalid_replies and glue.bad_signatures == 0 and glue.replies.get("BatchGetDataQualityResult"),
        "every reply validates against the %s Glue model, every signature verified (%s)"
        % ("reference" if fake_glue.DQ_MODEL_IS_REFERENCE else "Debian", glue.replies),
        "\n".join(glue.invalid_replies[:3]))
    cur.execute("SELECT count(*) FROM kant.collection WHERE ended_at IS NULL")
    tap(cur.fetchone()[0] == 0, "every collection is recorded as ended")
    glue.stop()
    conn.close()
    tap.plan()


def parsed(glue, results):
    """ListDataQualityResults (paged, filtered) and BatchGetDataQualityResult
    through botocore's client and parser: what it parses is the fake's data as
    the client's model reads it; with the current model that includes
    EvaluatedMetrics (Debian's 1.29 drops them)."""
    session = botocore.session.get_session()
    model_dir = None
    if fake_glue.DQ_MODEL_IS_REFERENCE:
        # a search path of its own holding a link to the reference model:
        # nothing is copied, and the rest of botocore's data is Debian's
        model_dir = tempfile.TemporaryDirectory()
        os.makedirs(os.path.join(model_dir.name, "glue", "2017-03-31"))
        os.symlink(fake_glue.REFERENCE_MODEL, os.path.join(model_dir.name, "glue", "2017-03-31", "service-2.json"))
        session.get_component("data_loader").search_paths.insert(0, model_dir.name)
    client = session.create_client("glue", region_name="ap-northeast-1", endpoint_url=glue.url("/"),
                                   aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key=SECRET)
    model = client.meta.service_model
    glue.hide_after = None
    glue.faults = []
    since = dt.datetime(2026, 11, 10, tzinfo=dt.timezone.utc)
    want = [x for x in results if x.get("JobName") == "hegel_export_users" and x["StartedOn"] > since.timestamp()]
    listed, token, pages = [], None, 0
    while True:
        kw = {"Filter": {"JobName": "hegel_export_users", "StartedAfter": since}, "MaxResults": 10}
        if token:
            kw["NextToken"] = token
        page = client.list_data_quality_results(**kw)
        pages += 1
        listed += page["Results"]
        token = page.get("NextToken")
        if not token:
            break
    tap([x["ResultId"] for x in listed] == [x["ResultId"] for x in want]
        and all(abs(x["StartedOn"].timestamp() - w["StartedOn"]) < 0.002 for x, w in zip(listed, want))
        and listed and listed[0]["DataSource"] == want[0]["DataSource"],
        "botocore's client pages ListDataQualityResults by hand (%d pages) with a JobName and StartedAfter filter: "
        "the results it parses are the fake's, newest first (%d)" % (pages, len(listed)))
    ids = [x["ResultId"] for x in want[:5]] + ["dqresult-unknown"]
    got = client.batch_get_data_quality_result(ResultIds=ids)

    def plain(x):
        return json.loads(json.dumps(x, default=lambda t: round(t.timestamp(), 3)))
    expect = [strip_unknown(x, model.shape_for("DataQualityResult")) for x in want[:5]]
    same = [plain(x) for x in got["Results"]] == plain(expect) and got["ResultsNotFound"] == ["dqresult-unknown"]
    metrics = [rule.get("EvaluatedMetrics") for x in got["Results"] for rule in x["RuleResults"]]
    if fake_glue.DQ_MODEL_IS_REFERENCE:
        tap(same and all(metrics) and "Dataset.*.RowCount" in metrics[0],
            "botocore's client with the current Glue model parses BatchGetDataQualityResult whole, "
            "EvaluatedMetrics included: %s" % metrics[:1])
    else:
        tap(same and not any(metrics),
            "botocore's client with Debian's model parses BatchGetDataQualityResult as that model knows it "
            "(without EvaluatedMetrics, which the fake sent): the reference model is not on this machine")
    try:
        client.get_data_quality_result(ResultId="dqresult-unknown")
        code = None
    except client.exceptions.EntityNotFoundException as e:
        code = e.response["Error"]["Code"]
    one = client.get_data_quality_result(ResultId=want[0]["ResultId"])
    tap(code == "EntityNotFoundException" and one["ResultId"] == want[0]["ResultId"]
        and len(one["RuleResults"]) == len(want[0]["RuleResults"]),
        "GetDataQualityResult: a result by its id, and EntityNotFoundException (botocore's modeled error) for "
        "an id Glue does not know")
    if model_dir:
        model_dir.cleanup()


main()
