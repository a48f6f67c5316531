#!/usr/bin/python3
"""Keep docs/reference.md true: regenerate it (docs/gen_reference.py) from a
fresh CREATE EXTENSION kant into a temporary file and compare; every kant
object has a COMMENT for it to show; and the README's Settings table lists
every kant.* setting with the default and context pg_settings gives.
Prints TAP lines."""
import difflib
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "docs"))
from taplib import fresh_db, tap  # noqa: E402
import gen_reference  # noqa: E402

DB = "kant_reference_test"

# objects without a COMMENT, by kind.  Columns: of every table and view; a
# table's plain ids (system_id, job_id, batch_id, rejected_id) are described by
# their table, as test/pgtap/schema.sql has it.  (The attributes of composite
# types, kant.ingest_result and the like, have no comments yet: the type's
# comment describes them.)
MISSING = {
    "function": """
        SELECT p.oid::regprocedure::text FROM pg_proc p
        WHERE p.pronamespace = 'kant'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL""",
    "table or view": """
        SELECT c.relname::text FROM pg_class c
        WHERE c.relnamespace = 'kant'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
          AND obj_description(c.oid, 'pg_class') IS NULL""",
    "table or view column": """
        SELECT c.relname || '.' || a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
        WHERE c.relnamespace = 'kant'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
          AND a.attnum > 0 AND NOT a.attisdropped AND col_description(c.oid, a.attnum) IS NULL
          AND NOT (c.relkind IN ('r', 'p') AND a.attname IN ('system_id', 'job_id', 'batch_id', 'rejected_id'))""",
    "type": """
        SELECT t.typname::text FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid
        WHERE t.typnamespace = 'kant'::regnamespace AND t.typcategory <> 'A'
          AND (t.typtype IN ('b', 'd', 'e', 'r') OR (t.typtype = 'c' AND c.relkind = 'c'))
          AND obj_description(t.oid, 'pg_type') IS NULL""",
    "setting": """
        SELECT name FROM pg_settings WHERE name LIKE 'kant.%' AND coalesce(short_desc, '') = ''""",
}


def readme_settings():
    """The README's Settings table: {setting: (type, default, context)}."""
    text = open(os.path.join(ROOT, "README.md")).read()
    m = re.search(r"^## Settings\n(.*?)^## ", text, re.S | re.M)
    rows = {}
    if not m:
        return rows
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and re.fullmatch(r"`kant\.[a-z_]+`", cells[0]):
            rows[cells[0].strip("`")] = (cells[1], cells[2].strip("`"), cells[3])
    return rows


def main():
    conn, cur = fresh_db(DB)
    cur.execute("CREATE EXTENSION kant")

    # 1. the reference is what the catalog says
    want = gen_reference.generate(conn)
    with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False) as f:
        f.write(want)
        fresh = f.name
    path = os.path.join(ROOT, "docs", "reference.md")
    have = open(path).read() if os.path.exists(path) else ""
    diff = list(difflib.unified_diff(have.splitlines(), want.splitlines(),
                                     "docs/reference.md", fresh, n=0, lineterm=""))
    tap(not diff, "docs/reference.md is what docs/gen_reference.py writes from the installed kant",
        "docs/reference.md is out of date: run `make reference` (see docs/contributing.md) and commit it;"
        " %d diff lines, the first:\n%s" % (len(diff), "\n".join(diff[2:10])))
    os.unlink(fresh)

    # 2. every object has a comment, so the reference has something to say
    cur.execute("LOAD 'kant'")
    for kind, sql in MISSING.items():
        cur.execute(sql)
        names = sorted(r[0] for r in cur.fetchall())
        tap(not names, "every kant %s has a COMMENT" % kind,
            "no COMMENT on %d: %s" % (len(names), ", ".join(names)))

    # 3. the README's Settings table: every setting, with its real default and context
    cur.execute("SELECT name, vartype, unit, boot_val, context FROM pg_settings"
                " WHERE name LIKE 'kant.%' ORDER BY name")
    actual = {name: (vartype, gen_reference.human(boot, unit) or "", gen_reference.CONTEXT[context])
              for name, vartype, unit, boot, context in cur.fetchall()}
    shown = readme_settings()
    tap(sorted(shown) == sorted(actual), "README's Settings table lists every kant.* setting (%d)" % len(actual),
        "missing: %s; not a setting: %s" % (", ".join(sorted(set(actual) - set(shown))) or "none",
                                             ", ".join(sorted(set(shown) - set(actual))) or "none"))
    wrong = ["%s: README says %s, pg_settings %s" % (n, "/".join(shown[n]), "/".join(actual[n]))
             for n in sorted(set(shown) & set(actual))
             if (shown[n][0], shown[n][1].replace("(empty)", ""), shown[n][2]) != actual[n]]
    tap(not wrong, "README's Settings table gives each setting's type, default and context as pg_settings does",
        "\n".join(wrong))

    conn.close()
    subprocess.run(["dropdb", DB], check=True)
    tap.plan()


if __name__ == "__main__":
    main()
