#!/usr/bin/python3
"""Data quality from the tools teams already run, read from their real
payloads (test/data/dq, copied from dbt-core, OpenLineage and Great
Expectations; see its README): dbt run_results.json v2/v4/v6 with the
manifest, Great Expectations 0.18 and 1.2 validation results, OpenLineage's
dataQualityMetrics / dataQualityAssertions / outputStatistics facets on the
RunEvents kant ingests, and Glue Data Quality results shaped as botocore's
Glue model has them.  Each test becomes an assertion judged by an assertion
check (gates and alerts follow), each number a metric; records of another
shape are kept in kant.rejected while the good ones land.  Payloads built
here are first validated against the projects' own JSON Schemas.  Prints TAP
lines."""
import copy
import json
import os
import sys

import jsonschema
import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import fresh_db, tap  # noqa: E402

DB = "kant_quality_tools"
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "dq")


def load(name):
    with open(os.path.join(DATA, name)) as f:
        return json.load(f)


def raises(cur, sql, args=()):
    """The SQLSTATE and message sql fails with, or None."""
    try:
        cur.execute("SAVEPOINT t")
        cur.execute(sql, args)
        cur.execute("RELEASE SAVEPOINT t")
        return None
    except psycopg2.Error as e:
        cur.execute("ROLLBACK TO SAVEPOINT t")
        return e.pgcode, e.pgerror


def one(cur, sql, args=()):
    cur.execute(sql, args)
    return cur.fetchone()


conn, cur = fresh_db(DB)
conn.autocommit = False
cur.execute("CREATE EXTENSION kant CASCADE")
cur.execute("SET client_min_messages = error")
J = json.dumps

# ---- dbt ----------------------------------------------------------------
# The schemas the payloads claim: the real ones validate as they are.
rr4, mf4 = load("dbt-1.0.0-v4-run_results.json"), load("dbt-1.0.0-v4-manifest.json")
rr2, mf2 = load("dbt-0.21-v2-run_results.json"), load("dbt-0.21-v2-manifest.json")
rr6 = load("dbt-1.9-v6-run_results.json")


def any_of(schema):
    """The schema with oneOf over string enums read as anyOf: the published v2
    and v4 schemas list status as oneOf of RunStatus, TestStatus and
    FreshnessStatus, whose enums share "pass", "warn" and "error", so strict
    oneOf refuses every real test result (v5 and v6 say anyOf)."""
    if isinstance(schema, dict):
        out = {k: any_of(v) for k, v in schema.items()}
        if "oneOf" in out and all(isinstance(x, dict) and "enum" in x for x in out["oneOf"]):
            out["anyOf"] = out.pop("oneOf")
        return out
    if isinstance(schema, list):
        return [any_of(x) for x in schema]
    return schema


for rr, v in ((rr4, 4), (rr2, 2), (rr6, 6)):
    try:
        jsonschema.validate(rr, any_of(load("schema-run-results-v%d.json" % v)))
        tap(True, "the real dbt run_results v%d is valid against schemas.getdbt.com's v%d" % (v, v))
    except jsonschema.ValidationError as e:
        tap(False, "the real dbt run_results v%d is valid against its schema" % v, e.message)

first = one(cur, "SELECT received, inserted, rejected, ignored FROM kant.ingest_dbt_run_results(%s, %s, business_date => '2024-01-15')", (J(rr4), J(mf4)))
cur.execute("SELECT * FROM kant.ingest_dbt_run_results(%s, %s, business_date => '2024-01-15')", (J(rr4), J(mf4)))
again = cur.fetchone()
tests4 = [r for r in rr4["results"] if r["unique_id"].startswith("test.")]
tap(again[:6] == (28, 0, 0, len(tests4), 0, 28 - len(tests4)),
    "dbt 1.0 (v4): the 20 tests are assertions, the 8 models ignored; the same file again changes nothing",
    again)
# the dataset is the model the test is on, database.schema.alias from the manifest
n = one(cur, """SELECT count(*) FROM kant.dq_assertion a JOIN kant.dataset d USING (dataset_id)
                WHERE a.tool = 'dbt' AND d.name = 'default.orders'""")[0]
expect_orders = sum(1 for r in tests4 if mf4["nodes"][r["unique_id"]]["depends_on"]["nodes"][-1] == "model.jaffle_shop.orders")
tap(n == expect_orders and n > 0, "each test lands on its model's dataset (default.orders: %d tests)" % expect_orders, n)
# the relationships test refs two models: the one it is declared on (last parent) wins, as OpenLineage's processor has it
rel = one(cur, """SELECT d.name FROM kant.dq_assertion a JOIN kant.dataset d USING (dataset_id)
                  WHERE a.assertion = 'test.jaffle_shop.relationships_orders_customer_id__customer_id__ref_customers_.c6ec7f58f2'""")
tap(rel == ("default.orders",), "a relationships test (refs customers and orders) is on the model it tests", rel)

# dbt 0.21 on BigQuery: failing tests, failures = rows
cur.execute("SELECT received, inserted, rejected FROM kant.ingest_dbt_run_results(%s, %s, business_date => '2024-01-15')",
            (J(rr2), J(mf2)))
tap(cur.fetchone() == (14, 14, 0), "dbt 0.21 (v2): 14 tests")
cur.execute("SELECT count(*) FROM kant.evaluate_checks('2024-01-15', '2024-01-15', now())")
cur.execute("""SELECT c.assertion, s.status, s.observed FROM kant.dq_status s JOIN kant.dq_check c ON c.name = s.check_name
               WHERE s.kind = 'assertion' AND s.status <> 'pass' ORDER BY 1""")
bad = cur.fetchall()
fails = sorted((r["unique_id"], r["failures"]) for r in rr2["results"] if r["status"] == "fail")
tap([(b[0], int(b[2])) for b in bad if b[1] == "fail"] == fails and len(bad) == len(fails),
    "every failing dbt test fails its check with dbt's failure count (%d)" % len(fails), bad)
msg = one(cur, """SELECT detail FROM kant.dq_status WHERE check_name LIKE '%%unique_test_first_dbt_model_id%%'""")
tap(msg and "Got 1 result, configured to fail if != 0" in msg[0], "the check's detail is dbt's message", msg)

# v6 (dbt 1.9): models only, all ignored
cur.execute("SELECT received, inserted, rejected, ignored FROM kant.ingest_dbt_run_results(%s, business_date => '2024-01-15')",
            (J(rr6),))
tap(cur.fetchone() == (2, 0, 0, 2), "dbt 1.9 (v6): a run of models gives no assertion")

# a v6 test result, built from the v4 one with v6's members; valid against v6 before kant sees it
rr6t = copy.deepcopy(rr4)
rr6t["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/run-results/v6.json"
rr6t["metadata"]["invocation_id"] = "v6-invocation"
for r in rr6t["results"]:
    r.update(compiled=True, compiled_code="select 1", relation_name=None, batch_results=None)
    if r["unique_id"] == "test.jaffle_shop.unique_orders_order_id.fed79b3a6e":
        r.update(status="warn", failures=3, message="Got 3 results, configured to warn if != 0")
    for t in r["timing"]:
        t["completed_at"] = t["completed_at"].replace("2021-12-22", "2021-12-23")
try:
    jsonschema.validate(rr6t, load("schema-run-results-v6.json"))
    tap(True, "the v6 test payload is valid against schemas.getdbt.com's v6")
except jsonschema.ValidationError as e:
    tap(False, "the v6 test payload is valid against v6", e.message)
cur.execute("SELECT updated, unchanged FROM kant.ingest_dbt_run_results(%s, %s, business_date => '2024-01-15')",
            (J(rr6t), J(mf4)))
tap(cur.fetchone() == (20, 0), "a later dbt run of the same tests supersedes each result (newer execute time)")
cur.execute("SELECT count(*) FROM kant.evaluate_checks('2024-01-15', '2024-01-15', now())")
w = one(cur, "SELECT status, observed FROM kant.dq_status WHERE check_name LIKE '%%unique_orders_order_id%%'")
tap(w == ("warn", 3), "dbt's warn is a warning, whatever the check's severity", w)

# the business date from --vars; none at all is 22023
rr4v = copy.deepcopy(rr4)
rr4v["args"] = {"vars": {"ds": "2024-01-16"}, "which": "test"}
cur.execute("SELECT inserted FROM kant.ingest_dbt_run_results(%s, %s, date_var => 'ds')", (J(rr4v), J(mf4)))
tap(cur.fetchone() == (20,) and one(cur, "SELECT count(*) FROM kant.dq_assertion WHERE business_date = '2024-01-16'")[0] == 20,
    "date_var takes the business date from args.vars (dbt --vars)")
rr4y = copy.deepcopy(rr4)
rr4y["args"] = {"vars": "{ds: 2024-01-17}"}
cur.execute("SELECT inserted FROM kant.ingest_dbt_run_results(%s, %s, date_var => 'ds')", (J(rr4y), J(mf4)))
tap(cur.fetchone() == (20,), "date_var reads --vars given as YAML text (older dbt)")
e = raises(cur, "SELECT kant.ingest_dbt_run_results(%s, %s)", (J(rr4), J(mf4)))
tap(e and e[0] == "22023" and "business date" in e[1], "no business date: 22023 naming it", e)
e = raises(cur, "SELECT kant.ingest_dbt_run_results(%s)", (J({"results": 5}),))
tap(e and e[0] == "22023", "not a run_results: 22023", e)

# bad records: quarantined, the others land
rrb = copy.deepcopy(rr4)
rrb["metadata"]["invocation_id"] = "bad-one"
ti = [i for i, r in enumerate(rrb["results"]) if r["unique_id"].startswith("test.")]
rrb["results"][ti[0]]["failures"] = "Test failure"      # as a hand-edited OpenLineage fixture has it
rrb["results"][ti[1]]["status"] = "exploded"
rrb["results"].append("not a result")
rrb["results"].append(dict(rrb["results"][ti[3]], unique_id="test.jaffle_shop.not_in_manifest.0000000000"))
cur.execute("SELECT received, rejected FROM kant.ingest_dbt_run_results(%s, %s, business_date => '2024-01-18')",
            (J(rrb), J(mf4)))
rec, rej = cur.fetchone()
cur.execute("SELECT item_path, reason FROM kant.rejected WHERE source = 'dbt' ORDER BY item_index")
rows = cur.fetchall()
good = one(cur, "SELECT count(*) FROM kant.dq_assertion WHERE business_date = '2024-01-18'")[0]
tap(rej == 4 and len(rows) == 4 and good == 20 - 2 and
    any("failures" in p for p, _ in rows) and any("status" in p for p, _ in rows) and
    any("not in the manifest" in r for _, r in rows),
    "bad dbt results (failures a string, an unknown status, not an object, a test not in the manifest) are "
    "quarantined with their field; the 18 good ones land", rows)
cur.execute("SELECT rejected FROM kant.ingest_dbt_run_results(%s, business_date => '2024-01-19')", (J(rr4),))
tap(cur.fetchone() == (20,), "without the manifest, each test is kept in kant.rejected (which model it tests is not in run_results)")
v9 = copy.deepcopy(rr4)
v9["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/run-results/v9.json"
cur.execute("SELECT received, rejected FROM kant.ingest_dbt_run_results(%s, %s, business_date => '2024-01-15')", (J(v9), J(mf4)))
r9 = cur.fetchone()
k9 = one(cur, "SELECT field, reason FROM kant.rejected WHERE source = 'dbt' AND field = 'metadata.dbt_schema_version'")
tap(r9 == (28, 28) and k9 and "v9" in k9[1], "an unknown run_results version is kept whole in kant.rejected, nothing guessed", (r9, k9))

# an alias on the model's unique_id names the dataset
cur.execute("SELECT kant.add_dataset('bq.orders', 'Asia/Tokyo', aliases => ARRAY['model.jaffle_shop.orders'])")
cur.execute("SELECT inserted FROM kant.ingest_dbt_run_results(%s, %s, business_date => '2024-02-01')", (J(rr4), J(mf4)))
n = one(cur, """SELECT count(*) FROM kant.dq_assertion a JOIN kant.dataset d USING (dataset_id)
                WHERE d.name = 'bq.orders' AND a.business_date = '2024-02-01'""")[0]
tap(n == expect_orders, "an alias (the model's unique_id) names kant's dataset", n)

conn.commit()

# ---- Great Expectations ----------------------------------------------------
gx0, gx1 = load("gx-0.18-validation.json"), load("gx-1.2-validation.json")
cur.execute("SELECT received, inserted, rejected FROM kant.ingest_great_expectations(%s, '2024-01-15', dataset => 'titanic')",
            (J(gx0),))
r = cur.fetchone()
tap(r == (len(gx0["results"]), len(gx0["results"]), 0), "GX 0.18 (expectation_type): every expectation is an assertion", r)
cur.execute("SELECT count(*) FROM kant.evaluate_checks('2024-01-15', '2024-01-15', now())")
cur.execute("SELECT status, count(*) FROM kant.dq_status WHERE dataset = 'titanic' GROUP BY 1 ORDER BY 1")
st = dict(cur.fetchall())
raised = sum(1 for x in gx0["results"] if x["exception_info"]["raised_exception"])
tap(st == {"error": raised, "pass": len(gx0["results"]) - raised},
    "an expectation that raised is error, not fail; the rest pass (%d raised)" % raised, st)
m = one(cur, "SELECT detail FROM kant.dq_status WHERE dataset = 'titanic' AND status = 'error' LIMIT 1")
tap(m and m[0].startswith("InvalidCacheValueError"), "the error's detail is GX's exception message", m)

cur.execute("SELECT received, inserted, rejected FROM kant.ingest_great_expectations(%s, '2024-01-15')", (J(gx1),))
r = cur.fetchone()
tap(r[0] == len(gx1["results"]) and r[2] == 0, "GX 1.2 (type, suite_name): every expectation lands", r)
ds = one(cur, "SELECT d.name FROM kant.dataset d WHERE d.name LIKE '%%titanic_data'")
tap(ds == ("my_datasource/my_generator/titanic_data",), "the dataset is the result's data asset", ds)
rows = one(cur, """SELECT m.value FROM kant.dq_metric m JOIN kant.dataset d USING (dataset_id)
                   WHERE d.name = 'my_datasource/my_generator/titanic_data' AND m.metric = 'row_count'""")
obs = [x["result"]["observed_value"] for x in gx1["results"]
       if x["expectation_config"]["type"] == "expect_table_row_count_to_be_between"]
tap(rows and obs and rows[0] == obs[0], "the table row-count expectation's observed_value is the row_count metric", (rows, obs))
nulls = one(cur, """SELECT m.value FROM kant.dq_metric m JOIN kant.dataset d USING (dataset_id)
                    WHERE d.name = 'my_datasource/my_generator/titanic_data' AND m.metric = 'null_count:Age'""")
exp = [x["result"]["unexpected_count"] for x in gx1["results"]
       if x["expectation_config"]["type"] == "expect_column_values_to_not_be_null"
       and x["expectation_config"]["kwargs"].get("column") == "Age"]
tap(nulls and exp and nulls[0] == exp[0], "not-null's unexpected_count is null_count:<column>", (nulls, exp))
# a checkpoint result (0.x wraps each in validation_result) with the date in a batch identifier
cp = {"run_id": {"run_name": "nightly", "run_time": "2024-01-16T02:00:00+00:00"}, "success": False,
      "run_results": {"ValidationResultIdentifier::titanic/nightly": {"validation_result": copy.deepcopy(gx0)}}}
cp["run_results"]["ValidationResultIdentifier::titanic/nightly"]["validation_result"]["meta"]["active_batch_definition"] = {
    "datasource_name": "pg", "data_connector_name": "fluent", "data_asset_name": "public.titanic",
    "batch_identifiers": {"ds": "2024-01-16"}}
cur.execute("SELECT inserted, rejected FROM kant.ingest_great_expectations(%s, date_key => 'ds')", (J(cp),))
r = cur.fetchone()
n = one(cur, """SELECT count(*) FROM kant.dq_assertion a JOIN kant.dataset d USING (dataset_id)
                WHERE d.name = 'public.titanic' AND a.business_date = '2024-01-16'""")[0]
tap(r == (len(gx0["results"]), 0) and n == len(gx0["results"]),
    "a checkpoint result: the data asset and the business date (date_key) from the batch definition", (r, n))
bad = copy.deepcopy(gx1)
bad["results"][2]["expectation_config"] = {"kwargs": {}}
bad["results"][3]["success"] = "yes"
cur.execute("SELECT received, inserted + updated + unchanged, rejected FROM kant.ingest_great_expectations(%s, '2024-01-20')",
            (J(bad),))
r = cur.fetchone()
tap(r == (len(gx1["results"]), len(gx1["results"]) - 2, 2), "two bad expectation results quarantined, the others land", r)
e = raises(cur, "SELECT kant.ingest_great_expectations(%s, '2024-01-15')", (J({"foo": 1}),))
tap(e and e[0] == "22023", "not a validation result: 22023", e)
cur.execute("SELECT rejected FROM kant.ingest_great_expectations(%s)", (J(gx0),))
tap(cur.fetchone() == (1,), "a validation result without a business date is kept in kant.rejected")
# a record of a shape the checks do not foresee is kept; the others land
odd = copy.deepcopy(gx1)
odd["suite_name"] = "odd"
odd["results"][4]["exception_info"]["raised_exception"] = "maybe"
odd["results"][5]["expectation_config"]["kwargs"] = "id"
cur.execute("SELECT received, inserted, rejected FROM kant.ingest_great_expectations(%s, '2024-01-21')", (J(odd),))
r = cur.fetchone()
tap(r[2] <= 2 and r[1] >= len(gx1["results"]) - 2, "GX: odd values (raised_exception \"maybe\", scalar kwargs) do not stop the suite", r)
# two suites testing the same column do not overwrite each other
a2 = copy.deepcopy(gx0)
a2["meta"]["expectation_suite_name"] = "other_suite"
cur.execute("SELECT inserted FROM kant.ingest_great_expectations(%s, '2024-01-15', dataset => 'titanic')", (J(a2),))
tap(cur.fetchone() == (len(gx0["results"]),), "GX: another suite's expectations on the same columns are their own assertions")
conn.commit()

# ---- OpenLineage facets ---------------------------------------------------
# the spec's own examples of the facets (spec/tests/<Facet>/1.json)
fm = load("ol-DataQualityMetricsInputDatasetFacet.json")
fa = load("ol-DataQualityAssertionsDatasetFacet.json")
fd = load("ol-DataQualityMetricsDatasetFacet.json")
fo = load("ol-OutputStatisticsOutputDatasetFacet.json")
cur.execute("SELECT kant.add_dataset('rds.orders', 'Asia/Tokyo', aliases => ARRAY['postgres://rds:5432/shop.public.orders'])")


def event(run_id, when, inputs=(), outputs=(), etype="COMPLETE"):
    return {"eventType": etype, "eventTime": when,
            "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.0.0/integration/dbt",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": run_id, "facets": {"nominalTime": {
                "_producer": "https://github.com/OpenLineage/OpenLineage/tree/1.0.0/integration/dbt",
                "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json",
                "nominalStartTime": "2024-01-15T00:00:00Z"}}},
            "job": {"namespace": "dbt_ns", "name": "shop.orders.test"},
            "inputs": list(inputs), "outputs": list(outputs)}


ev = event("0190f0c2-0000-7000-8000-000000000001", "2024-01-16T01:02:03Z",
           inputs=[{"namespace": "postgres://rds:5432", "name": "shop.public.orders", "inputFacets": dict(fm, **fa)}],
           outputs=[{"namespace": "bigquery", "name": "proj.ds.orders", "outputFacets": fo}])
cur.execute("SELECT inserted, rejected FROM kant.ingest_openlineage(%s::jsonb)", (J(ev),))
tap(cur.fetchone() == (1, 0), "the RunEvent's run lands as before")
cur.execute("""SELECT m.metric, m.value FROM kant.dq_metric m JOIN kant.dataset d USING (dataset_id)
               WHERE d.name = 'rds.orders' AND m.business_date = '2024-01-15' AND m.value IS NOT NULL ORDER BY 1""")
got = dict(cur.fetchall())
f = fm["dataQualityMetrics"]
tap(got.get("row_count") == f["rowCount"] and got.get("file_count") == f["fileCount"]
    and got.get("null_count:user_id") == 0 and got.get("distinct_count:user_id") == 3 and got.get("sum:amount") == 6600,
    "dataQualityMetrics (1-0-3, inputFacets): rowCount, fileCount and columnMetrics as metrics of the run's business date", got)
lu = one(cur, """SELECT m.value_at = %s::timestamptz FROM kant.dq_metric m JOIN kant.dataset d USING (dataset_id)
                 WHERE d.name = 'rds.orders' AND m.metric = 'max_timestamp'""", (f["lastUpdated"],))
tap(lu == (True,), "lastUpdated is the max_timestamp metric", lu)
n = one(cur, "SELECT count(*) FROM kant.dq_assertion WHERE tool = 'openlineage' AND business_date = '2024-01-15'")[0]
tap(n == len(fa["dataQualityAssertions"]["assertions"]), "dataQualityAssertions: each assertion (and column) lands", n)
bq = one(cur, """SELECT m.value FROM kant.dq_metric m JOIN kant.dataset d USING (dataset_id)
                 WHERE d.name = 'bigquery/proj.ds.orders' AND m.metric = 'row_count'""")
tap(bq == (fo["outputStatistics"]["rowCount"],), "outputStatistics on an output: row_count of namespace/name", bq)
# the dataset-facet variant, under facets; a failed assertion with severity warn; the text payload path
fa2 = {"dataQualityAssertions": {"_producer": "x", "_schemaURL": "https://openlineage.io/spec/facets/1-1-0/DataQualityAssertionsDatasetFacet.json",
                                 "assertions": [{"assertion": "not_null", "column": "email", "success": False,
                                                 "severity": "warn", "actual": "12", "expected": "0"},
                                                {"assertion": "unique", "column": "order_id", "success": False,
                                                 "actual": "3", "expected": "0"}]}}
ev2 = event("0190f0c2-0000-7000-8000-000000000002", "2024-01-17T01:00:00Z",
            inputs=[{"namespace": "postgres://rds:5432", "name": "shop.public.orders", "facets": dict(fd, **fa2)}])
ev2["run"]["facets"]["nominalTime"]["nominalStartTime"] = "2024-01-16T00:00:00Z"
cur.execute("SELECT inserted FROM kant.ingest_openlineage(%s::text)", (J(ev2),))
cur.execute("SELECT count(*) FROM kant.evaluate_checks('2024-01-16', '2024-01-16', now())")
cur.execute("""SELECT check_name, status, observed FROM kant.dq_status WHERE dataset = 'rds.orders'
               AND business_date = '2024-01-16' AND kind = 'assertion' AND status <> 'pending' ORDER BY 1""")
got = cur.fetchall()
tap([(g[1], g[2]) for g in got] == [("warn", 12), ("fail", 3)],
    "facets (not inputFacets), given as text: a failed warn assertion warns, a failed one fails, with actual", got)
rc = one(cur, """SELECT m.value FROM kant.dq_metric m JOIN kant.dataset d USING (dataset_id)
                 WHERE d.name = 'rds.orders' AND m.business_date = '2024-01-16' AND m.metric = 'row_count'""")
tap(rc == (fd["dataQualityMetrics"]["rowCount"],), "the dataset-facet DataQualityMetricsDatasetFacet is read too", rc)
# a bad facet: quarantined, the run and the other dataset's facets land
ev3 = event("0190f0c2-0000-7000-8000-000000000003", "2024-01-18T01:00:00Z",
            inputs=[{"namespace": "postgres://rds:5432", "name": "shop.public.orders",
                     "inputFacets": {"dataQualityMetrics": {"rowCount": "many", "columnMetrics": {}}}},
                    {"namespace": "s3://bucket", "name": "users", "inputFacets": fm}])
ev3["run"]["facets"]["nominalTime"]["nominalStartTime"] = "2024-01-17T00:00:00Z"
cur.execute("SELECT inserted, rejected FROM kant.ingest_openlineage(%s::jsonb)", (J(ev3),))
r = cur.fetchone()
k = one(cur, "SELECT item_path, reason FROM kant.rejected WHERE source = 'openlineage'")
s3 = one(cur, """SELECT count(*) FROM kant.dq_metric m JOIN kant.dataset d USING (dataset_id)
                 WHERE d.name = 's3://bucket/users' AND m.business_date = '2024-01-17'""")[0]
bad_rows = one(cur, """SELECT count(*) FROM kant.dq_metric m JOIN kant.dataset d USING (dataset_id)
                       WHERE d.name = 'rds.orders' AND m.business_date = '2024-01-17'""")[0]
tap(r == (1, 0) and k == ("$[0].inputs[0]", "dataQualityMetrics.rowCount is not a count") and s3 > 0 and bad_rows == 0,
    "a facet of another shape is kept in kant.rejected with its path; the run and the other dataset land", (r, k, s3, bad_rows))
# the same assertion twice (older producers send no name): the worse outcome is kept, never the pass
ev4 = event("0190f0c2-0000-7000-8000-000000000004", "2024-01-19T01:00:00Z",
            inputs=[{"namespace": "postgres://rds:5432", "name": "shop.public.orders", "inputFacets": {"dataQualityAssertions": {
                "_producer": "x", "_schemaURL": "https://openlineage.io/spec/facets/1-0-0/DataQualityAssertionsDatasetFacet.json",
                "assertions": [{"assertion": "expression_is_true", "success": True},
                               {"assertion": "expression_is_true", "success": False},
                               {"assertion": "expression_is_true", "success": True}]}}}])
ev4["run"]["facets"]["nominalTime"]["nominalStartTime"] = "2024-01-18T00:00:00Z"
cur.execute("SELECT kant.ingest_openlineage(%s::jsonb)", (J(ev4),))
o = one(cur, """SELECT outcome FROM kant.dq_assertion WHERE tool = 'openlineage' AND business_date = '2024-01-18'
                AND assertion = 'expression_is_true'""")
tap(o == ("fail",), "an assertion repeated under one name keeps its failure (a pass does not hide it)", o)
# the namespace/name alias wins over an alias of the bare name
cur.execute("SELECT kant.add_dataset('replica.orders', 'Asia/Tokyo', aliases => ARRAY['postgres://replica:5432/shop.public.orders'])")
cur.execute("SELECT kant.add_dataset('bare.orders', 'Asia/Tokyo', aliases => ARRAY['shop.public.orders'])")
ev5 = event("0190f0c2-0000-7000-8000-000000000005", "2024-01-20T01:00:00Z",
            outputs=[{"namespace": "postgres://replica:5432", "name": "shop.public.orders", "outputFacets": fo}])
ev5["run"]["facets"]["nominalTime"]["nominalStartTime"] = "2024-01-19T00:00:00Z"
cur.execute("SELECT kant.ingest_openlineage(%s::jsonb)", (J(ev5),))
w = one(cur, """SELECT d.name FROM kant.dq_metric m JOIN kant.dataset d USING (dataset_id)
                WHERE m.business_date = '2024-01-19' AND m.metric = 'row_count' AND m.source = 'openlineage'""")
tap(w == ("replica.orders",), "an alias of namespace/name names the dataset before an alias of the bare name", w)
# counts are counts: a negative rowCount is refused with the facet, as report_metric refuses it
ev6 = event("0190f0c2-0000-7000-8000-000000000006", "2024-01-21T01:00:00Z",
            outputs=[{"namespace": "bigquery", "name": "proj.ds.orders", "outputFacets": {"outputStatistics": {
                "_producer": "x", "_schemaURL": "y", "rowCount": -5}}}])
ev6["run"]["facets"]["nominalTime"]["nominalStartTime"] = "2024-01-20T00:00:00Z"
cur.execute("SELECT kant.ingest_openlineage(%s::jsonb)", (J(ev6),))
n = one(cur, "SELECT count(*) FROM kant.dq_metric WHERE business_date = '2024-01-20' AND source = 'openlineage'")[0]
tap(n == 0, "a negative rowCount is refused (kept in kant.rejected), as report_metric refuses it", n)
conn.commit()

# ---- Glue Data Quality ------------------------------------------------------
# Shaped as botocore's Glue model (GetDataQualityResultResponse): the fake Glue
# and test/scripts/glue_data_quality.py check the collector's side
cur.execute("SELECT kant.add_system('glue_prod', 'glue', time_zone => 'Asia/Tokyo', bd_argument => '--business_date')")
runs = {"JobRuns": [{"Id": "jr_0001", "JobName": "export_users", "StartedOn": 1705338000.0,
                     "CompletedOn": 1705341600.0, "JobRunState": "SUCCEEDED", "Attempt": 0,
                     "Arguments": {"--business_date": "2024-01-15"}}]}
cur.execute("SELECT inserted FROM kant.ingest_glue_job_runs('glue_prod', %s)", (J(runs),))
bdate = one(cur, "SELECT business_date FROM kant.job_run WHERE external_id = 'jr_0001'")[0]
res = {"ResultId": "dqresult-0123456789abcdef", "Score": 0.5,
       "DataSource": {"GlueTable": {"DatabaseName": "rds_export", "TableName": "users"}},
       "RulesetName": "users_ruleset", "EvaluationContext": "EvaluateDataQuality_node1",
       "StartedOn": 1705341000.5, "CompletedOn": 1705341060.25, "JobName": "export_users", "JobRunId": "jr_0001",
       "RuleResults": [
           {"Name": "Rule_1", "Description": "RowCount > 0", "Result": "PASS", "EvaluatedRule": "RowCount > 0",
            "EvaluatedMetrics": {"Dataset.*.RowCount": 1000.0}},
           {"Name": "Rule_2", "Description": "IsComplete \"email\"", "Result": "FAIL",
            "EvaluationMessage": "Value: 0.98 does not meet the constraint requirement!",
            "EvaluatedMetrics": {"Column.email.Completeness": 0.98}}]}
cur.execute("SELECT received, inserted, rejected FROM kant.ingest_glue_data_quality('glue_prod', %s)",
            (J({"Results": [res, {"ResultId": "broken"}], "ResultsNotFound": ["dqresult-gone"]}),))
r = cur.fetchone()
cur.execute("""SELECT m.metric, m.value FROM kant.dq_metric m JOIN kant.dataset d USING (dataset_id)
               WHERE d.name = 'rds_export.users' AND m.business_date = %s ORDER BY 1""", (bdate,))
got = dict(cur.fetchall())
tap(r == (2, 2, 1) and {k: float(v) for k, v in got.items()} == {"completeness:email": 0.98, "null_count:email": 20, "row_count": 1000},
    "Glue DQ: rules are assertions, EvaluatedMetrics metrics (null_count from Completeness and RowCount), "
    "on the business date of the job run; a broken result is quarantined", (r, got, bdate))
cur.execute("SELECT count(*) FROM kant.evaluate_checks(%s, %s, now())", (bdate, bdate))
cur.execute("""SELECT check_name, status, detail FROM kant.dq_status WHERE dataset = 'rds_export.users' ORDER BY 1""")
got = cur.fetchall()
tap([g[1] for g in got] == ["pass", "fail"] and "does not meet" in got[1][2], "a FAIL rule fails its check, with Glue's message", got)
orphan = dict(res, ResultId="dqresult-orphan", JobRunId="jr_unknown")
cur.execute("SELECT rejected FROM kant.ingest_glue_data_quality('glue_prod', %s)", (J(orphan),))
k = one(cur, "SELECT field, reason FROM kant.rejected WHERE source = 'glue_data_quality' AND field = 'JobRunId'")
tap(k and "jr_unknown" in k[1], "a result of a run kant does not hold is quarantined (its business date is unknown)", k)
# EvaluatedMetrics values are NullableDouble; AWS JSON writes non-finite doubles as strings
nan = dict(res, ResultId="dqresult-nan", RuleResults=[
    {"Name": "Rule_3", "Result": "FAIL", "EvaluatedMetrics": {"Column.amount.Mean": "NaN"}},
    {"Name": "Rule_4", "Result": "ERROR", "EvaluatedMetrics": {"Column.amount.StandardDeviation": None}}])
cur.execute("SELECT inserted, rejected FROM kant.ingest_glue_data_quality('glue_prod', %s)", (J(nan),))
r = cur.fetchone()
cur.execute("""SELECT assertion, outcome FROM kant.dq_assertion WHERE tool = 'glue_data_quality'
               AND assertion IN ('users_ruleset/Rule_3', 'users_ruleset/Rule_4') ORDER BY 1""")
tap(r == (2, 0) and cur.fetchall() == [("users_ruleset/Rule_3", "fail"), ("users_ruleset/Rule_4", "error")],
    "rules with a NaN or null metric land (their verdicts), the metric is not stored", r)
cur.execute("""SELECT kant.drop_check(name) FROM kant.dq_check
               WHERE assertion IN ('users_ruleset/Rule_3', 'users_ruleset/Rule_4')""")
e = raises(cur, "SELECT kant.ingest_glue_data_quality('nope', '[]')")
tap(e and e[0] == "42704", "an unknown system: 42704", e)
conn.commit()

# ---- what it feeds: a gate holds on a failed assertion --------------------
cur.execute("SELECT kant.create_gate('users ready', jobs => ARRAY['glue_prod/export_users'])")
cur.execute("SELECT kant.set_gate_datasets('users ready', ARRAY['rds_export.users'])")
g = one(cur, "SELECT kant.kant_gate_ready('users ready', %s)", (bdate,))
cur.execute("SELECT job, state FROM kant.gate_status('users ready', %s) WHERE state LIKE 'dq_%%' ORDER BY 1", (bdate,))
gs = cur.fetchall()
tap(g == (False,) and ("dq_fail" in [s for _, s in gs]), "a gate on the dataset holds while Glue's rule fails", (g, gs))
cur.execute("SELECT kant.check_assertion('users emails complete', 'rds_export.users', 'glue_data_quality', "
            "'users_ruleset/Rule_2', severity => 'warning')")
g = one(cur, "SELECT kant.kant_gate_ready('users ready', %s)", (bdate,))
n = one(cur, "SELECT count(*) FROM kant.dq_check WHERE tool = 'glue_data_quality' AND assertion = 'users_ruleset/Rule_2'")[0]
tap(g == (True,) and n == 1, "check_assertion renames the test's check and makes it a warning: the gate opens", (g, n))
conn.commit()

# ---- who owns a measurement ---------------------------------------------------
# the role whose code calls kant.measure (current_user), not whoever started the statement
cur.execute("DROP ROLE IF EXISTS kant_qt_platform")
cur.execute("CREATE ROLE kant_qt_platform")
cur.execute("GRANT USAGE, CREATE ON SCHEMA public TO kant_qt_platform")
cur.execute("GRANT USAGE ON SCHEMA kant TO kant_qt_platform")
cur.execute("GRANT EXECUTE ON FUNCTION kant.measure(text, text, text, interval, text, integer) TO kant_qt_platform")
cur.execute("SET ROLE kant_qt_platform")
cur.execute("""CREATE FUNCTION public.qt_define() RETURNS integer LANGUAGE sql SECURITY DEFINER
               AS $f$ SELECT kant.measure('qt planted', 'rds.orders', 'SELECT 1 AS row_count') $f$""")
cur.execute("""CREATE FUNCTION public.qt_plant(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE
               AS $f$ BEGIN PERFORM kant.measure('qt analyzed', 'rds.orders', 'SELECT 1 AS row_count'); RETURN i; END $f$""")
cur.execute("CREATE TABLE public.qt_bait (i int)")
cur.execute("INSERT INTO public.qt_bait SELECT generate_series(1, 100)")
cur.execute("RESET ROLE")
cur.execute("SELECT public.qt_define()")
o = one(cur, "SELECT owner::text FROM kant.dq_measure WHERE name = 'qt planted'")
tap(o == ("kant_qt_platform",), "a superuser calling a role's SECURITY DEFINER function defines a measurement of that role", o)
e = raises(cur, "CREATE INDEX ON public.qt_bait (public.qt_plant(i))")
n = one(cur, "SELECT count(*) FROM kant.dq_measure WHERE name = 'qt analyzed'")[0]
tap(e and e[0] == "42501" and n == 0,
    "an index expression (run as the table's owner, restricted, for a superuser's command) cannot define one", e)
e = raises(cur, "SET ROLE kant_qt_platform; SELECT kant._measure_impl('x', 'rds.orders', 'SELECT 1', '1 min', NULL, 3)")
cur.execute("RESET ROLE")
tap(e and e[0] == "42501", "no one but the extension's owner runs kant._measure_impl", e)
cur.execute("DROP OWNED BY kant_qt_platform")
cur.execute("DELETE FROM kant.dq_measure WHERE name LIKE 'qt %'")
cur.execute("DROP ROLE kant_qt_platform")
conn.commit()
conn.close()
tap.plan()
