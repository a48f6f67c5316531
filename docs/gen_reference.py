#!/usr/bin/python3
"""Write docs/reference.md from the catalog of an installed kant: every
function, procedure and aggregate (signature, result, COMMENT), view and table
(columns, types, COMMENTs), type and setting (pg_settings after LOAD 'kant').
Nothing is written by hand, so the reference says what the installed kant is.

    /usr/bin/python3 docs/gen_reference.py [-o FILE] [--create] [DSN]

DSN is a libpq connection string (default: the PG* environment).  Without
--create, kant must be created in that database; with --create, a scratch
database kant_reference is created (CREATE EXTENSION kant) and dropped.
`make reference` runs it in a throwaway cluster (test/harness/reference.sh);
test/scripts/reference.py fails when docs/reference.md is not what it writes.

Objects are grouped by concern with the name rules in SECTIONS (first match
wins); functions whose names start with `_` are kant's internals: they are
listed, one line each, in the appendix."""
import argparse
import re
import subprocess
import sys

import psycopg2

# (title, what the section covers, name patterns); an object goes to the first
# section one of whose patterns matches its whole name.
SECTIONS = [
    ("Runs and ingestion",
     "Systems and jobs, the run model, ingestion and what it logs and rejects.",
     [r"ingest_.*", r"report_run", r"(add|alter|drop)_system", r"configure_job", r"system", r"job",
      r"job_run", r"ingest_batch", r"rejected", r"runs", r"current_runs", r"runs_by_business_date",
      r"ingest_result", r"valid_time_zone"]),
    ("Run states",
     "The one-byte `kant.run_state` type, its spellings and its operator support functions.",
     [r"run_state.*", r"is_terminal", r"is_done", r"state_mapping"]),
    ("Rules and locks",
     "The rules everything depends on, each written once (sql/src/rules.sql): the kinds of alert and the advisory locks kant takes.",
     [r"alert_kinds", r"advisory_locks"]),
    ("Schedules and expected runs",
     "Cron expressions, local instants, schedules, calendars and the expected runs they expand to.",
     [r"cron_.*", r"local_instant", r"(set|unset)_schedule", r"schedule", r"schedule_unread", r"set_cron_timetable", r"set_calendar", r"calendar",
      r"holiday", r"is_business_day", r"expand_schedules", r"expected_runs?"]),
    ("SLOs and SLAs",
     "SLO definitions, the `kant.slo_eval` aggregate, daily facts and attainment.",
     [r"(create|alter|drop|refresh)_slo", r"(un)?schedule_slo_refresh", r"slo.*", r"job_deadline"]),
    ("Views for BI",
     "The `bi_` views Tableau reads (plain types only) and their dictionary.",
     [r"bi_.*"]),
    ("Collection and HTTP",
     "Endpoints, credentials, the Glue and Airflow collectors, their record, and the HTTP layer.",
     [r"set_endpoint", r"set_credentials", r"credential", r"collect_.*", r"collection", r"collector_health",
      r"(un)?schedule_collection", r"http_.*", r"set_glue_data_quality", r"glue_dq_source"]),
    ("Alerting and delivery",
     "Checks, alerts and their lifecycle, silences, dependencies, channels, routes and the outbox.",
     [r"check_conditions", r"run_checks", r"(un)?schedule_checks", r"alert.*", r"open_alerts",
      r"set_alerting", r"set_dependency", r"job_dependency", r"set_job_retries", r"job_durations",
      r"(un)?silence", r"silence", r"(set|drop)_channel", r"channels?", r"(add|drop)_route",
      r"notification.*", r"deliver_notifications"]),
    ("Gates",
     "Gates, the sensor's `kant_gate_ready`, why a gate is closed, and triggering the downstream DAG.",
     [r"(create|drop)_gate", r"gate.*", r"kant_gate_ready", r"trigger_ready_gates",
      r"(un)?schedule_gate_triggers", r"action_log", r"actions"]),
    ("Recovery",
     "Restarting failed Glue runs while the deadline can still be met.",
     [r"(set|unset)_recovery", r"recovery_policy", r"recover_failed_runs", r"(un)?schedule_recovery"]),
]
OTHER = ("Other", "Objects no section's name rules cover (add a rule to docs/gen_reference.py).")

CONTEXT = {
    "superuser": "superuser",
    "user": "any user",
    "sighup": "server configuration",
    "postmaster": "server start",
    "backend": "connection start",
    "superuser-backend": "connection start (superuser)",
    "internal": "fixed",
}

FUNCTIONS = """
SELECT p.oid, p.proname, p.prokind,
       pg_get_function_identity_arguments(p.oid),
       pg_get_function_arguments(p.oid),
       pg_get_function_result(p.oid),
       obj_description(p.oid, 'pg_proc'),
       p.prosecdef
FROM pg_proc p
WHERE p.pronamespace = 'kant'::regnamespace
ORDER BY p.proname, pg_get_function_identity_arguments(p.oid)
"""

RELATIONS = """
SELECT c.oid, c.relname, c.relkind, obj_description(c.oid, 'pg_class')
FROM pg_class c
WHERE c.relnamespace = 'kant'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
ORDER BY c.relname
"""

COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), col_description(a.attrelid, a.attnum),
       a.attidentity <> '',
       (SELECT min(k.confrelid::regclass::text) FROM pg_constraint k
        WHERE k.conrelid = a.attrelid AND k.contype = 'f' AND k.conkey = ARRAY[a.attnum])
FROM pg_attribute a
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

TYPES = """
SELECT t.oid, t.typname, t.typtype, obj_description(t.oid, 'pg_type'), t.typrelid,
       format_type(t.typbasetype, t.typtypmod)
FROM pg_type t
LEFT JOIN pg_class c ON c.oid = t.typrelid
WHERE t.typnamespace = 'kant'::regnamespace AND t.typcategory <> 'A'
  AND (t.typtype IN ('b', 'd', 'e', 'r') OR (t.typtype = 'c' AND c.relkind = 'c'))
ORDER BY t.typname
"""

OPERATORS = """
SELECT o.oprname, format_type(o.oprleft, NULL), format_type(o.oprright, NULL),
       format_type(o.oprresult, NULL), o.oprcode::regproc::text, obj_description(o.oid, 'pg_operator')
FROM pg_operator o
WHERE o.oprnamespace = 'kant'::regnamespace
ORDER BY o.oprcode::regproc::text
"""

OPCLASSES = """
SELECT c.opcname, am.amname, format_type(c.opcintype, NULL), c.opcdefault
FROM pg_opclass c JOIN pg_am am ON am.oid = c.opcmethod
WHERE c.opcnamespace = 'kant'::regnamespace
ORDER BY c.opcname
"""

CASTS = """
SELECT format_type(c.castsource, NULL), format_type(c.casttarget, NULL),
       CASE c.castcontext WHEN 'i' THEN 'implicit' WHEN 'a' THEN 'in assignment' ELSE 'explicit' END
FROM pg_cast c
WHERE c.castsource IN (SELECT oid FROM pg_type WHERE typnamespace = 'kant'::regnamespace)
   OR c.casttarget IN (SELECT oid FROM pg_type WHERE typnamespace = 'kant'::regnamespace)
ORDER BY 1, 2
"""

SETTINGS = """
SELECT name, vartype, unit, boot_val, min_val, max_val, enumvals, context, short_desc, extra_desc
FROM pg_settings WHERE name LIKE 'kant.%' ORDER BY name
"""


def section_of(name):
    for i, (_, _, patterns) in enumerate(SECTIONS):
        if any(re.fullmatch(p, name) for p in patterns):
            return i
    return len(SECTIONS)


def one_line(text):
    """A comment as one table cell: white space folded, pipes escaped."""
    return " ".join((text or "").split()).replace("|", "\\|")


def para(text):
    """A comment as a paragraph (its line breaks kept as written)."""
    return (text or "*(no comment)*").strip()


def human(value, unit):
    """A setting's value the way SHOW prints it (10s, 64MB, 15min)."""
    if not unit or value is None or not re.fullmatch(r"-?\d+", value):
        return value
    n = int(value)
    steps = {"ms": [(1000, "s"), (60, "min"), (60, "h"), (24, "d")],
             "s": [(60, "min"), (60, "h"), (24, "d")],
             "min": [(60, "h"), (24, "d")],
             "kB": [(1024, "MB"), (1024, "GB"), (1024, "TB")]}.get(unit, [])
    for factor, bigger in steps:
        if n == 0 or n % factor:
            break
        n //= factor
        unit = bigger
    return "%d%s" % (n, unit)


def settings(cur):
    """Every kant.* setting (kant must be loaded in the session to define them)."""
    cur.execute("LOAD 'kant'")
    cur.execute(SETTINGS)
    return cur.fetchall()


def split_args(args):
    """A function's argument list split at its top-level commas (not inside
    quotes, parentheses or brackets)."""
    out, depth, quote, cur = [], 0, False, ""
    for ch in args:
        if quote:
            quote = ch != "'"
        elif ch == "'":
            quote = True
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def signature(f):
    """CREATE-like text of a function: one argument a line when it is long."""
    call = "CALL kant.%s" % f["name"] if f["kind"] == "p" else "kant.%s" % f["name"]
    args = split_args(f["args"])
    if len(call) + len(f["args"]) + 2 <= 100:
        text = "%s(%s)" % (call, f["args"])
    else:
        text = "%s(\n    %s)" % (call, ",\n    ".join(args))
    if f["kind"] != "p":
        result = f["result"]
        if result.startswith("TABLE(") and len(result) > 90:
            result = "TABLE(\n    %s)" % ",\n    ".join(split_args(result[6:-1]))
        text += "\n  RETURNS %s" % result
    return text


def anchor(text):
    """GitHub's heading anchor."""
    return re.sub(r"[^a-z0-9 _-]", "", text.lower()).replace(" ", "-")


def generate(conn):
    cur = conn.cursor()
    # defaults and types print as they would for any session: qualified, ISO
    cur.execute("SET search_path = pg_catalog; SET DateStyle = ISO; SET IntervalStyle = postgres;"
                " SET TimeZone = 'UTC'; SET extra_float_digits = 1")
    cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'kant'")
    row = cur.fetchone()
    if row is None:
        raise SystemExit("gen_reference: kant is not created in this database (CREATE EXTENSION kant)")
    version = row[0]

    groups = [{"functions": [], "views": [], "tables": [], "types": []} for _ in range(len(SECTIONS) + 1)]
    internal = []

    cur.execute(FUNCTIONS)
    for oid, name, kind, ident, args, result, comment, secdef in cur.fetchall():
        f = dict(name=name, kind=kind, ident=ident, args=args, result=result, comment=comment, secdef=secdef)
        if name.startswith("_"):
            internal.append(f)
        else:
            groups[section_of(name)]["functions"].append(f)

    cur.execute(RELATIONS)
    for oid, name, kind, comment in cur.fetchall():
        c2 = conn.cursor()
        c2.execute(COLUMNS, (oid,))
        r = dict(name=name, comment=comment, columns=c2.fetchall())
        groups[section_of(name)]["views" if kind in ("v", "m") else "tables"].append(r)

    cur.execute(TYPES)
    types = cur.fetchall()
    cur.execute(OPERATORS)
    operators = cur.fetchall()
    cur.execute(OPCLASSES)
    opclasses = cur.fetchall()
    cur.execute(CASTS)
    casts = cur.fetchall()
    for oid, name, typtype, comment, relid, basetype in types:
        t = dict(name=name, typtype=typtype, comment=comment, basetype=basetype, columns=[], labels=[])
        if typtype == "c":
            c2 = conn.cursor()
            c2.execute(COLUMNS, (relid,))
            t["columns"] = c2.fetchall()
        elif typtype == "e":
            c2 = conn.cursor()
            c2.execute("SELECT enumlabel FROM pg_enum WHERE enumtypid = %s ORDER BY enumsortorder", (oid,))
            t["labels"] = [r[0] for r in c2.fetchall()]
        groups[section_of(name)]["types"].append(t)

    guc = settings(cur)

    out = []
    w = out.append
    w("# kant reference")
    w("")
    w("<!-- Generated by docs/gen_reference.py from the catalog of kant %s: do not edit by hand;"
      " `make reference` rewrites it, test/scripts/reference.py checks it. -->" % version)
    w("")
    w("Every function, view, table, type and setting of kant %s, as the installed extension "
      "describes itself: signatures from `pg_get_function_arguments` / `pg_get_function_result`, "
      "text from its `COMMENT`s, settings from `pg_settings` (after `LOAD 'kant'`). "
      "The [README](../README.md) is the guide; this is the list. Functions whose names start "
      "with `_` are kant's internals: they are in the [appendix](#internal-functions), not meant "
      "to be called. Functions marked *security definer* run with the rights of kant's owner; "
      "see the README's *Roles and grants* for who may call what." % version)
    w("")
    w("## Contents")
    w("")
    shown = [(i, s) for i, s in enumerate(SECTIONS + [OTHER])
             if any(groups[i][k] for k in groups[i])]
    for i, s in shown:
        w("- [%s](#%s)" % (s[0], anchor(s[0])))
    w("- [Settings](#settings)")
    w("- [Internal functions](#internal-functions)")
    w("")

    for i, (title, blurb, *_rest) in shown:
        g = groups[i]
        w("## %s" % title)
        w("")
        w(blurb)
        w("")
        if g["functions"]:
            w("### Functions")
            w("")
            names = []
            for f in g["functions"]:
                if f["name"] not in names:
                    names.append(f["name"])
            for name in names:
                w("#### `kant.%s`" % name)
                w("")
                for f in [f for f in g["functions"] if f["name"] == name]:
                    kind = {"p": "procedure", "a": "aggregate", "w": "window function"}.get(f["kind"], "function")
                    w("```")
                    w(signature(f))
                    w("```")
                    w("")
                    notes = [kind] if kind != "function" else []
                    if f["secdef"]:
                        notes.append("security definer")
                    if notes:
                        w("*%s*" % ", ".join(notes))
                        w("")
                    w(para(f["comment"]))
                    w("")
        for key, label in (("views", "Views"), ("tables", "Tables")):
            if not g[key]:
                continue
            w("### %s" % label)
            w("")
            for r in g[key]:
                w("#### `kant.%s`" % r["name"])
                w("")
                w(para(r["comment"]))
                w("")
                w("| column | type | description |")
                w("|---|---|---|")
                for name, typ, comment, identity, references in r["columns"]:
                    desc = one_line(comment) if comment else \
                        ("identity" if identity else "references `%s`" % references if references else "")
                    w("| `%s` | %s | %s |" % (name, typ, desc))
                w("")
        if g["types"]:
            w("### Types")
            w("")
            for t in g["types"]:
                w("#### `kant.%s`" % t["name"])
                w("")
                w(para(t["comment"]))
                w("")
                if t["typtype"] == "c":
                    w("| attribute | type | description |")
                    w("|---|---|---|")
                    for name, typ, comment, _, _ in t["columns"]:
                        w("| `%s` | %s | %s |" % (name, typ, one_line(comment)))
                    w("")
                elif t["typtype"] == "d":
                    w("A domain over `%s`." % t["basetype"])
                    w("")
                elif t["typtype"] == "e":
                    w("Values: %s." % ", ".join("`%s`" % l for l in t["labels"]))
                    w("")
                elif t["typtype"] == "b":
                    ops = [o for o in operators if o[1] == "kant." + t["name"] or o[1] == t["name"]]
                    if ops:
                        order = ["=", "<>", "<", "<=", ">", ">="]
                        ops.sort(key=lambda o: (order.index(o[0]) if o[0] in order else len(order), o[0]))
                        w("Operators (in schema `kant`: put it on the `search_path`, or write "
                          "`OPERATOR(kant.=)`): %s."
                          % ", ".join("`%s` (`%s`, %s %s %s → %s)" % (o[0], o[4], o[1], o[0], o[2], o[3])
                                      for o in ops))
                        w("")
                    ocs = [o for o in opclasses if o[2] in ("kant." + t["name"], t["name"])]
                    if ocs:
                        w("Operator classes: %s." % ", ".join(
                            "`kant.%s` (%s%s)" % (o[0], o[1], ", default" if o[3] else "") for o in ocs))
                        w("")
                    cs = [c for c in casts if "kant." + t["name"] in (c[0], c[1]) or t["name"] in (c[0], c[1])]
                    if cs:
                        w("Casts: %s." % ", ".join("`%s` → `%s` (%s)" % c for c in cs))
                        w("")

    w("## Settings")
    w("")
    w("kant's settings exist in a session once the library is loaded (`LOAD 'kant'`, or any call of a "
      "kant function). *Context* says who may change one: *superuser* settings need a superuser "
      "(or `GRANT SET ON PARAMETER`), *any user* settings can be `SET` by anyone for their session. "
      "The default is the built-in value.")
    w("")
    w("| setting | type | default | range | context | description |")
    w("|---|---|---|---|---|---|")
    for name, vartype, unit, boot, mn, mx, enumvals, context, short, extra in guc:
        default = human(boot, unit)
        shown_default = "`%s`" % default if default not in (None, "") else "(empty)"
        if vartype in ("integer", "real") and mn is not None:
            rng = "%s … %s" % (human(mn, unit), human(mx, unit))
        elif vartype == "enum" and enumvals:
            rng = ", ".join(enumvals)
        else:
            rng = ""
        desc = one_line(short)
        if extra:
            desc += " " + one_line(extra)
        w("| `%s` | %s | %s | %s | %s | %s |"
          % (name, vartype, shown_default, rng, CONTEXT.get(context, context), desc))
    w("")

    w("## Internal functions")
    w("")
    w("kant's own helpers: triggers, the acting calls, the pg_cron and delivery plumbing. They are "
      "listed so that the reference is complete (and every one has a comment); their signatures "
      "may change in any release, and most are granted to no role.")
    w("")
    w("| function | returns | description |")
    w("|---|---|---|")
    for f in internal:
        result = f["result"] or "(procedure)"
        w("| `kant.%s(%s)` | %s | %s |" % (f["name"], f["ident"], one_line(result), one_line(f["comment"])))
    w("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dsn", nargs="?", default="", help="libpq connection string (default: PG* environment)")
    ap.add_argument("-o", "--output", help="file to write (default: standard output)")
    ap.add_argument("--create", action="store_true",
                    help="create a scratch database kant_reference with kant in it, and drop it after")
    a = ap.parse_args()
    db = None
    if a.create:
        db = "kant_reference"
        subprocess.run(["dropdb", "--if-exists", db], check=True, stderr=subprocess.DEVNULL)
        subprocess.run(["createdb", db], check=True)
        conn = psycopg2.connect(a.dsn, dbname=db)
        conn.autocommit = True
        conn.cursor().execute("SET client_min_messages = warning; CREATE EXTENSION kant")
    else:
        conn = psycopg2.connect(a.dsn)
    try:
        text = generate(conn)
    finally:
        conn.close()
        if db:
            subprocess.run(["dropdb", db], check=True)
    if a.output:
        with open(a.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
