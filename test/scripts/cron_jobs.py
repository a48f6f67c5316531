#!/usr/bin/python3
"""kant's pg_cron helpers, in the database pg_cron runs in (cron.database_name):
kant.schedule_slo_refresh() creates the job once and updates it in place when
called again, the job's command runs, and kant.unschedule_slo_refresh() removes
it (false when there is nothing to remove).  Prints TAP lines."""
import os
import re

import psycopg2

n = 0


def tap(ok, what):
    global n
    n += 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n, what))


def readme_roles():
    """The README's role block (the ```sql block that creates kant_reader), as written."""
    readme = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")).read()
    for body in re.findall(r"```sql\n(.*?)```", readme, re.S):
        if "CREATE ROLE kant_reader" in body:
            return body
    raise SystemExit("README.md has no role block")


def admin_schedules(conn):
    """A login member of kant_admin, with exactly the README's grants and the
    USAGE on schema cron they ask a superuser for, creates and removes every
    kant job; the jobs are its own (cron.job.username), so pg_cron runs them
    as that role.  Without that USAGE the refusal names the grant."""
    conn.autocommit = False
    cur = conn.cursor()
    try:
        cur.execute(readme_roles())
        # pg_cron connects as the job's role: a login member of kant_admin schedules (README)
        cur.execute("CREATE ROLE kant_test_platform LOGIN IN ROLE kant_admin")
        cur.execute("SELECT kant.add_system('admin_sys', 'glue', 'Asia/Tokyo')")
        cur.execute("SET ROLE kant_test_platform")
        cur.execute("SAVEPOINT a")
        try:
            cur.execute("SELECT kant.schedule_checks()")
            tap(False, "without USAGE on schema cron kant_admin is refused")
        except psycopg2.Error as e:
            tap(e.pgcode == "42501" and "GRANT USAGE ON SCHEMA cron TO kant_test_platform" in (e.diag.message_hint or ""),
                "without USAGE on schema cron an admin is refused, and told the grant: %s / %s"
                % (e.pgerror.splitlines()[0], e.diag.message_hint))
        cur.execute("ROLLBACK TO SAVEPOINT a")
        cur.execute("RESET ROLE")
        cur.execute("GRANT USAGE ON SCHEMA cron TO kant_admin")
        cur.execute("SET ROLE kant_test_platform")
        made, errors = [], []
        for call in ("schedule_collection('admin_sys', '7 * * * *')", "schedule_checks()", "schedule_slo_refresh()",
                     "schedule_gate_triggers()", "schedule_recovery()", "schedule_measurements()"):
            cur.execute("SAVEPOINT b")
            try:
                cur.execute("SELECT kant." + call)
                made.append(call)
            except psycopg2.Error as e:
                errors.append("%s: %s" % (call, e.pgerror.splitlines()[0]))
                cur.execute("ROLLBACK TO SAVEPOINT b")
        cur.execute("SELECT jobname, username FROM cron.job WHERE jobname LIKE 'kant-%' ORDER BY 1")
        jobs = cur.fetchall()
        tap(not errors and len(jobs) == 7 and all(u == "kant_test_platform" for _, u in jobs),
            "a login member of kant_admin schedules every kant job with the README's grants, as itself: %s %s"
            % (jobs, errors))
        # kant's jobs are meant to run once, but pg_cron names jobs per role: the
        # README's setup run as a second role makes a second kant-gates, which
        # runs too.  Whoever schedules second is warned, naming the other role
        # (which pg_cron's row security would not show a non-superuser)
        cur.execute("RESET ROLE")
        del conn.notices[:]
        cur.execute("SELECT kant.schedule_gate_triggers()")
        warned = "".join(conn.notices)
        cur.execute("SET ROLE kant_test_platform")
        del conn.notices[:]
        cur.execute("SELECT kant.schedule_gate_triggers()")
        warned2 = "".join(conn.notices)
        cur.execute("RESET ROLE")
        cur.execute("SELECT kant.unschedule_gate_triggers()")
        cur.execute("SELECT session_user")
        su = cur.fetchone()[0]
        cur.execute("SET ROLE kant_test_platform")
        tap('pg_cron also runs a job "kant-gates" of role kant_test_platform' in warned
            and 'pg_cron also runs a job "kant-gates" of role %s' % su in warned2,
            "a second role scheduling kant's jobs is warned, either way round: %r / %r" % (warned[:120], warned2[:120]))
        # kant._cron_others reads cron.job as a superuser, past pg_cron's row
        # security: it answers for kant's job names only, never who has any
        # other job (a guessed name is no oracle)
        cur.execute("RESET ROLE")
        cur.execute("SELECT cron.schedule('private-backup', '0 3 * * *', 'SELECT 1')")
        cur.execute("SELECT kant.schedule_gate_triggers()")
        cur.execute("SET ROLE kant_test_platform")
        cur.execute("SELECT kant._cron_others('private-backup', 'kant_test_platform'), kant._cron_others('kant-gates', 'kant_test_platform')")
        other, kant_job = cur.fetchone()
        tap(other == [] and kant_job == [su],
            "kant._cron_others tells a member of kant_admin about kant's job names only: %s / %s" % (other, kant_job))
        # a role without EXECUTE on kant._cron_others (a grant script from
        # before 0.6.0) still schedules: the check is a warning, not a gate
        cur.execute("RESET ROLE")
        cur.execute("REVOKE EXECUTE ON FUNCTION kant._cron_others(text, text) FROM kant_admin")
        cur.execute("SET ROLE kant_test_platform")
        del conn.notices[:]
        cur.execute("SAVEPOINT c")
        try:
            cur.execute("SELECT kant.schedule_gate_triggers()")
            ok, why = cur.fetchone()[0] > 0, "".join(conn.notices)
        except psycopg2.Error as e:
            ok, why = False, e.pgerror.splitlines()[0]
            cur.execute("ROLLBACK TO SAVEPOINT c")
        tap(ok and "pg_cron also runs" not in why,
            "without EXECUTE on kant._cron_others an admin still schedules, unwarned: %r" % why[:120])
        cur.execute("RESET ROLE")
        cur.execute("GRANT EXECUTE ON FUNCTION kant._cron_others(text, text) TO kant_admin")
        cur.execute("SELECT kant.unschedule_gate_triggers(), cron.unschedule('private-backup')")
        cur.execute("SET ROLE kant_test_platform")
        removed = []
        for call in ("unschedule_collection('admin_sys')", "unschedule_checks()", "unschedule_slo_refresh()",
                     "unschedule_gate_triggers()", "unschedule_recovery()", "unschedule_measurements()"):
            cur.execute("SELECT kant." + call)
            removed.append(cur.fetchone()[0])
        cur.execute("SELECT count(*) FROM cron.job WHERE jobname LIKE 'kant-%'")
        tap(all(removed) and cur.fetchone()[0] == 0, "and removes them again: %s" % removed)
    finally:
        conn.rollback()
        conn.autocommit = True


def foreign_cron_schema():
    """kant._cron_others runs as the extension's owner (a superuser) to read
    cron.job past pg_cron's row security.  In a database pg_cron is not
    installed in (pg_cron runs in one: cron.database_name; kant may live in
    another) a schema "cron" may be anyone's: a role that may create one
    makes cron.job a view over a function of its own, which would then run as
    the superuser.  kant reads only the cron.job that extension pg_cron made."""
    import subprocess
    db = "kant_cron_foreign"
    subprocess.run(["dropdb", "--if-exists", db], check=True, stderr=subprocess.DEVNULL)
    subprocess.run(["createdb", db], check=True)
    conn = psycopg2.connect(dbname=db)
    conn.autocommit = True
    cur = conn.cursor()
    try:
        cur.execute("CREATE EXTENSION kant")
        cur.execute("CREATE ROLE kant_test_schemer NOLOGIN")
        cur.execute("GRANT CREATE ON DATABASE %s TO kant_test_schemer" % db)
        cur.execute("GRANT USAGE ON SCHEMA kant TO kant_test_schemer")
        cur.execute("GRANT EXECUTE ON FUNCTION kant._cron_others(text, text) TO kant_test_schemer")
        cur.execute("SET ROLE kant_test_schemer")
        cur.execute("CREATE SCHEMA cron")
        cur.execute("CREATE FUNCTION cron.who() RETURNS name LANGUAGE sql AS 'SELECT current_user'")
        cur.execute("CREATE VIEW cron.job AS SELECT 'kant-gates'::name AS jobname, cron.who() AS username")
        cur.execute("SELECT kant._cron_others('kant-gates', 'kant_test_schemer')")
        got = cur.fetchone()[0]
        cur.execute("RESET ROLE")
        tap(got == [], "a schema cron that pg_cron did not make is not read as the superuser (its view's "
            "function would run as the superuser): %s" % got)
    finally:
        cur.execute("RESET ROLE")
        conn.close()
        subprocess.run(["dropdb", db], check=True)
        c2 = psycopg2.connect(dbname="postgres")
        c2.autocommit = True
        c2.cursor().execute("DROP ROLE kant_test_schemer")
        c2.close()


def main():
    conn = psycopg2.connect(dbname="postgres")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("SHOW cron.database_name")
    tap(cur.fetchone()[0] == "postgres", "pg_cron runs in database postgres")
    cur.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
    cur.execute("DROP EXTENSION IF EXISTS kant CASCADE")
    cur.execute("CREATE EXTENSION kant")
    try:
        cur.execute("SELECT kant.schedule_slo_refresh()")
        first = cur.fetchone()[0]
        cur.execute("SELECT kant.schedule_slo_refresh('*/10 * * * *')")
        second = cur.fetchone()[0]
        cur.execute("SELECT count(*), min(schedule), min(command) FROM cron.job WHERE jobname = 'kant-refresh-slo'")
        count, schedule, command = cur.fetchone()
        tap(first == second and count == 1, "calling it twice keeps one job (id %s, %s)" % (first, second))
        tap(schedule == "*/10 * * * *", "the second call updated the schedule (%s)" % schedule)
        cur.execute(command)
        tap(cur.fetchone()[0] >= 0, "the job's command runs: %s" % command)
        try:
            cur.execute("SELECT kant.schedule_slo_refresh('every tuesday')")
            tap(False, "a bad schedule is refused")
        except psycopg2.Error as e:
            tap(True, "a bad schedule is refused: %s" % e.pgerror.splitlines()[0])
        cur.execute("SELECT kant.unschedule_slo_refresh()")
        removed = cur.fetchone()[0]
        cur.execute("SELECT kant.unschedule_slo_refresh()")
        again = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM cron.job WHERE jobname = 'kant-refresh-slo'")
        tap(removed and not again and cur.fetchone()[0] == 0, "unschedule removes it once, then says false")
        # collection: one job per system, idempotent
        cur.execute("SELECT kant.add_system('hegel', 'glue', 'Asia/Tokyo')")
        cur.execute("SELECT kant.schedule_collection('hegel')")
        a = cur.fetchone()[0]
        cur.execute("SELECT kant.schedule_collection('hegel', '15 * * * *')")
        b = cur.fetchone()[0]
        cur.execute("SELECT count(*), min(schedule), min(command) FROM cron.job WHERE jobname = 'kant-collect-hegel'")
        count, schedule, command = cur.fetchone()
        tap(a == b and count == 1 and schedule == "15 * * * *",
            "schedule_collection keeps one job per system and updates it: %s" % command)
        cur.execute(command)
        row = cur.fetchone()
        tap(row[0] == "22023" and "no region" in row[1],
            "the job's command records a collection (here: it says the region is missing)")
        try:
            cur.execute("SELECT kant.schedule_collection('nope')")
            tap(False, "an unknown system is refused")
        except psycopg2.Error as e:
            tap(e.pgcode == "42704", "an unknown system is refused: %s" % e.pgerror.splitlines()[0])
        cur.execute("SELECT kant.unschedule_collection('hegel'), kant.unschedule_collection('hegel')")
        tap(cur.fetchone() == (True, False), "unschedule_collection removes it once")
        # checks and delivery: two jobs, idempotent, their commands run
        cur.execute("SELECT kant.schedule_checks()")
        ids = cur.fetchone()[0]
        cur.execute("SELECT kant.schedule_checks('*/2 * * * *', '*/3 * * * *')")
        ids2 = cur.fetchone()[0]
        cur.execute("SELECT jobname, schedule, command FROM cron.job WHERE jobname IN ('kant-checks', 'kant-deliver') ORDER BY 1")
        jobs = cur.fetchall()
        tap(ids == ids2 and [(j[0], j[1]) for j in jobs] == [("kant-checks", "*/2 * * * *"), ("kant-deliver", "*/3 * * * *")],
            "schedule_checks keeps one kant-checks and one kant-deliver job and updates them: %s" % (jobs,))
        cur.execute(jobs[0][2])
        row = cur.fetchone()
        cur.execute(jobs[1][2])
        status = cur.statusmessage
        tap(len(row) == 4 and all(v is not None for v in row) and status == "CALL",
            "their commands run: %s -> %s; %s -> %s" % (jobs[0][2], row, jobs[1][2], status))
        cur.execute("SELECT kant.unschedule_checks(), kant.unschedule_checks()")
        tap(cur.fetchone() == (True, False), "unschedule_checks removes them once")
        # gate triggers and recovery: one job each, idempotent, their commands run
        for name, sched, unsched in (("kant-gates", "schedule_gate_triggers", "unschedule_gate_triggers"),
                                     ("kant-recover", "schedule_recovery", "unschedule_recovery"),
                                     ("kant-measure", "schedule_measurements", "unschedule_measurements")):
            cur.execute("SELECT kant.%s(), kant.%s('*/2 * * * *')" % (sched, sched))
            a, b = cur.fetchone()
            cur.execute("SELECT count(*), min(schedule), min(command) FROM cron.job WHERE jobname = %s", (name,))
            count, schedule, command = cur.fetchone()
            cur.execute(command)
            cur.fetchall()
            cur.execute("SELECT kant.%s(), kant.%s()" % (unsched, unsched))
            tap(a == b and count == 1 and schedule == "*/2 * * * *" and cur.fetchone() == (True, False),
                "%s: one job %s, updated in place, its command runs (%s), removed once" % (sched, name, command))
        admin_schedules(conn)
        foreign_cron_schema()
    finally:
        cur.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname LIKE 'kant-%'")
        cur.execute("DROP EXTENSION kant CASCADE")
    print("1..%d" % n)


main()
