#!/usr/bin/python3
"""Keep the README true: every ```sql block in README.md runs, in order, in a
fresh database (inside one transaction, rolled back); where a block is followed
directly by a psql result table, the last statement's result must be that table;
and the state table is what kant.state_mapping() says.  Prints TAP lines."""
import os
import re
import subprocess

import psycopg2
import psycopg2.extensions

# results as PostgreSQL prints them, the way psql shows them in the README
RAW = psycopg2.extensions.new_type((16, 20, 21, 23, 700, 701, 1082, 1083, 1114, 1184, 1700), "RAW",
                                   lambda value, cur: value)
psycopg2.extensions.register_type(RAW)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DB = "kant_readme"


def blocks(text):
    """(language, body) of every fenced block, in order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"```(\w*)\n(.*?)```", text, re.S)]


def parse_table(body):
    lines = [l for l in body.splitlines() if l.strip()]
    if len(lines) < 2 or not re.match(r"^-+(\+-+)*$", lines[1].strip()):
        return None
    header = [c.strip() for c in lines[0].split("|")]
    rows = [[c.strip() for c in l.split("|")] for l in lines[2:] if not l.startswith("(")]
    return header, rows


def fmt(v):
    return "" if v is None else str(v)


def main():
    readme = open(os.path.join(ROOT, "README.md")).read()
    subprocess.run(["dropdb", "--if-exists", DB], check=True, stderr=subprocess.DEVNULL)
    subprocess.run(["createdb", DB], check=True)
    conn = psycopg2.connect(dbname=DB)
    cur = conn.cursor()
    cur.execute("SET TimeZone = 'UTC'; SET DateStyle = ISO; SET client_min_messages = warning")
    n = 0
    bl = blocks(readme)
    for i, (lang, body) in enumerate(bl):
        if lang != "sql":
            continue
        n += 1
        first = body.strip().splitlines()[0][:70]
        try:
            cur.execute("SAVEPOINT b")
            cur.execute(body)
            rows = cur.fetchall() if cur.description else None
            cols = [d[0] for d in cur.description] if cur.description else None
            cur.execute("RELEASE SAVEPOINT b")
        except Exception as e:
            cur.execute("ROLLBACK TO SAVEPOINT b")
            print("not ok %d - README sql block runs: %s\n#   %s" % (n, first, str(e).strip().replace("\n", "\n#   ")))
            continue
        print("ok %d - README sql block runs: %s" % (n, first))
        # a result table shown right after the block must be the block's result
        after = readme[readme.index(body) + len(body) + 3:]
        nxt = re.match(r"\s*```\n(.*?)```", after, re.S)
        table = parse_table(nxt.group(1)) if nxt else None
        if table and rows is not None:
            header, shown = table
            got = [[fmt(v) for v in r] for r in rows]
            n += 1
            if header == cols and got == shown:
                print("ok %d - README shows the result of: %s" % (n, first))
            else:
                print("not ok %d - README shows the result of: %s\n#   shown %s %s\n#   got   %s %s"
                      % (n, first, header, shown, cols, got))
    conn.rollback()

    # the state table
    cur.execute("CREATE EXTENSION IF NOT EXISTS kant")
    cur.execute("SELECT state::text, source, spelling, is_terminal FROM kant.state_mapping()")
    mapping = cur.fetchall()
    conn.rollback()
    srcs = ["glue", "airflow", "openlineage", "pg_cron", "other"]
    order = ["scheduled", "queued", "running", "deferred", "retrying", "succeeded", "failed",
             "timed_out", "cancelled", "skipped", "upstream_failed"]
    expected = []
    for st in order:
        term = "yes" if any(r[3] in (True, "t") for r in mapping if r[0] == st) else "no"
        cells = [", ".join("`%s`" % r[2] for r in mapping if r[0] == st and r[1] == s) for s in srcs]
        expected.append("| `%s` | %s | %s |" % (st, term, " | ".join(cells)))
    shown = [l for l in readme.splitlines() if re.match(r"^\| `[a-z_]+` \| (yes|no) \|", l)]
    n += 1
    if shown == expected:
        print("ok %d - README state table is kant.state_mapping()" % n)
    else:
        print("not ok %d - README state table is kant.state_mapping()" % n)
        for a, b in zip(shown, expected):
            if a != b:
                print("#   shown    %s\n#   expected %s" % (a, b))
    conn.close()
    subprocess.run(["dropdb", DB], check=True)


if __name__ == "__main__":
    main()
