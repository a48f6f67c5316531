#!/usr/bin/python3
"""Writes the seed corpus of fuzz_payload (test/fuzz/corpus/fuzz_payload/):
real payloads, each prefixed with the byte that picks the source's keys
('0' Glue, '1' Airflow, '2' OpenLineage, '3' reports; see fuzz_payload.c).

- every JSON literal passed to kant.ingest_*() in test/sql/*.sql;
- GetJobRuns pages and Airflow taskInstances lists (v1, and v2 as
  test/fakes/fake_airflow.py shapes them) from the simulated platform of
  test/fakes/simulate.py, cut to small pages;
- the cut-off payloads of issue 11 that crashed the server.

Run from the repository root: /usr/bin/python3 test/fuzz/make_corpus.py
Files are named by the SHA-1 of their content, as libFuzzer names its own."""
import hashlib
import json
import os
import re
import sys

sys.path.insert(0, "test/fakes")
import simulate  # noqa: E402
import types  # noqa: E402
from fake_airflow import FakeAirflow  # noqa: E402

OUT = "test/fuzz/corpus/fuzz_payload"
PREFIX = {"ingest_glue_job_runs": "0", "ingest_airflow_task_instances": "1",
          "ingest_openlineage": "2", "ingest_reports": "3"}


def sql_literals():
    """(prefix, json text) of each ingest call's literal payload in the regress tests."""
    for name in sorted(os.listdir("test/sql")):
        text = open(os.path.join("test/sql", name)).read()
        sets = {m.group(1): m.group(2).replace("''", "'")
                for m in re.finditer(r"^\\set (\w+) '((?:[^']|'')*)'$", text, re.M)}
        for m in re.finditer(r"kant\.(ingest_\w+)\(", text):
            fn, rest = m.group(1), text[m.end():m.end() + 200000]
            if fn not in PREFIX:
                continue
            # the payload argument: a literal, or :'var' of a \set
            lit = re.match(r"(?:'(?:[^']|'')*',\s*)?(?:'((?:[^']|'')*)'|:'(\w+)')", rest)
            if not lit:
                continue
            payload = lit.group(1).replace("''", "'") if lit.group(1) is not None else sets.get(lit.group(2))
            if payload and payload.lstrip()[:1] in "[{":
                yield PREFIX[fn], payload


def simulated():
    p = simulate.platform(start=simulate.dt.date(2026, 10, 26))
    for i, page in enumerate(p.glue_pages(page_size=3)):
        if i < 4:
            yield "0", json.dumps(page)
    tis = p.task_instances[10:22]  # index 17 is the malformed one
    fake = FakeAirflow.__new__(FakeAirflow)
    for version in ("v1", "v2"):
        fake.version = version
        fake.data = types.SimpleNamespace(  # v2 renames execution_date: the malformed one has none
            task_instances=tis if version == "v1" else [t for t in tis if "execution_date" in t])
        out = fake.task_instances()
        for i in range(0, len(out), 4):
            yield "1", json.dumps({"task_instances": out[i:i + 4], "total_entries": len(out)})
    # issue 11: these cut-off payloads crashed the server
    yield "0", '{"JobRuns":'
    yield "1", '{"task_instances":'
    yield "3", '{"runs":'


def main():
    os.makedirs(OUT, exist_ok=True)
    n = 0
    for prefix, payload in list(sql_literals()) + list(simulated()):
        data = (prefix + payload).encode()
        name = hashlib.sha1(data).hexdigest()
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        n += 1
    print("%d seeds in %s" % (len(os.listdir(OUT)), OUT))


if __name__ == "__main__":
    main()
