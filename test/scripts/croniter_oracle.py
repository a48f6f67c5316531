#!/usr/bin/python3
"""Airflow's cron, against croniter itself.

Airflow reads a DAG's cron schedule with croniter (airflow/timetables/
_cron.py: CronMixin); kant reads a schedule of an Airflow system in its
croniter dialect (kant.schedule.dialect, src/cron_parse.c).  This script
draws 900 five-field expressions with a fixed seed from the forms croniter
takes in its day fields (a step such as */2, lists, ranges, L, L5, 5#2, day
names) and compares every run in the first quarter of 2024 (UTC) from
kant.cron_occurrences(..., 'croniter') with croniter's get_next, from
Debian's python3-croniter.  Expressions croniter refuses must be refused too.

One rule changed in croniter 2.0.4 (a day field that lists every day no
longer counts as * unless the other field holds a *); kant follows 2.0.4 and
later, as current Airflow does.  With an older croniter (Debian 12 has
1.3.5) expressions whose day field lists every day are left out here; the
rule is tested in test/sql/schedulers.sql.
"""
import datetime as dt
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from taplib import fresh_db, tap  # noqa: E402

from croniter import croniter as Croniter  # noqa: E402
from croniter.croniter import CroniterBadDateError  # noqa: E402

START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
END = dt.datetime(2024, 4, 1, tzinfo=dt.timezone.utc)
try:
    from importlib.metadata import version as _version
    CRONITER = _version("croniter")
except Exception:               # no distribution metadata: assume old
    CRONITER = "0"
VERSION = tuple(int(x) for x in CRONITER.split(".")[:3] if x.isdigit())

MINUTES = ["0", "15", "*/20", "5,35", "59"]
HOURS = ["0", "3", "*/6", "1-3", "23"]
DOMS = ["*", "1", "*/2", "*/3", "1-7", "*/32,1-7", "15", "L", "10-20/5", "31", "29", "1,15", "*/1", "1-31",
        "LW", "1W", "32", "15-L", "10-L/5"]
MONTHS = ["*", "*/3", "1,3", "2", "jan-feb"]
DOWS = ["*", "1", "1-5", "*/2", "mon", "5#2", "L5", "sat,sun", "0", "7", "0-6", "tue,thu", "1#1", "*/3",
        "1,5#2", "5L", "8", "sat-sun", "5-0", "fri-sun"]


class NoDate(Exception):
    pass


def croniter_runs(expr):
    it = Croniter(expr, START - dt.timedelta(seconds=1))
    out = []
    while len(out) < 10000:
        try:
            t = it.get_next(dt.datetime)
        except CroniterBadDateError:
            # no date for 50 years; with both day fields restricted croniter
            # searches each half of the union alone and gives up when one has
            # none (31 2 ...): Airflow cannot schedule such a DAG at all
            raise NoDate()
        if t >= END:
            break
        out.append(t)
    return out


# croniter before pallets-eco/croniter pull request 178 (June 2025) skips the
# 1st of a month after a shorter one when its day set holds a day the short
# month lacks ("*/10" after Feb 21: [1, 11, 21, 31] picks 31 and overshoots
# past Mar 1).  Probed, not assumed from the version: with such a croniter,
# expressions whose day-of-month set holds a day beyond 28 among others are
# left out (kant runs on the 1st, as the fix does).
OVERSHOOT = Croniter("0 0 */10 * *", dt.datetime(2021, 2, 21)).get_next(dt.datetime) != dt.datetime(2021, 3, 1)


def overshoots(dom):
    days = set()
    for part in dom.split(","):
        if not part[:1].isdigit() and part[:1] != "*":
            continue            # L, LW: no list of days
        rng, _, step = part.partition("/")
        rng = rng.replace("-L", "-31").replace("-l", "-31")     # croniter: 15-L is 15-31
        if not rng.replace("-", "").replace("*", "").isdigit() and rng != "*":
            continue            # 1W and the like: refused by both
        lo, hi = (1, 31) if rng == "*" else (int(rng.split("-")[0]), int(rng.split("-")[-1]))
        if step:
            hi = 31 if "-" not in rng and rng != "*" else hi
        days.update(range(lo, hi + 1, int(step or 1)))
    return len(days) > 1 and max(days) > 28


def full(field, n):
    """The field lists every value (and is not a bare * or ?)."""
    return field not in ("*", "?") and field in ("*/1", "1-31", "0-6")


def main():
    rnd = random.Random(20240101)
    conn, cur = fresh_db("kant_croniter_oracle")
    cur.execute("CREATE EXTENSION kant")
    cur.execute("SET TimeZone = 'UTC'")
    tap(True, "croniter %s against kant's croniter dialect" % CRONITER)
    compared = refused = skipped = nodate = 0
    bad = []
    seen = set()
    while compared + refused + skipped + nodate < 900:
        expr = " ".join([rnd.choice(MINUTES), rnd.choice(HOURS), rnd.choice(DOMS),
                         rnd.choice(MONTHS), rnd.choice(DOWS)])
        if expr in seen:
            continue
        seen.add(expr)
        dom, dow = expr.split()[2], expr.split()[4]
        if (VERSION < (2, 0, 4) and (full(dom, 31) or full(dow, 7))) or (OVERSHOOT and overshoots(dom)):
            skipped += 1
            continue
        try:
            want = croniter_runs(expr)
        except NoDate:
            nodate += 1
            continue
        except (ValueError, KeyError) as e:      # croniter's errors are ValueErrors
            cur.execute("SELECT kant.cron_is_valid(%s, 'croniter')", (expr,))
            if cur.fetchone()[0]:
                bad.append("%s: croniter refuses it (%s), kant accepts it" % (expr, e))
            refused += 1
            continue
        cur.execute("SELECT kant.cron_is_valid(%s, 'croniter')", (expr,))
        if not cur.fetchone()[0]:
            bad.append("%s: croniter accepts it, kant refuses it" % expr)
            compared += 1
            continue
        cur.execute("SELECT t FROM kant.cron_occurrences(%s, 'UTC', %s, %s, 'croniter') t ORDER BY t",
                    (expr, START, END))
        got = [r[0] for r in cur.fetchall()]
        if got != want:
            first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            bad.append("%s: %d runs in kant, %d in croniter; first difference at #%d: kant %s, croniter %s"
                       % (expr, len(got), len(want), first, got[first] if first < len(got) else "-",
                          want[first] if first < len(want) else "-"))
        compared += 1
    tap(not bad, "%d expressions: every run in Jan-Mar 2024 as croniter's, %d refused by both, %d left out "
        "(a day field listing every day, the rule of croniter 2.0.4; a day beyond 28 with an older croniter's "
        "overshoot%s), %d croniter finds no date for"
        % (compared, refused, skipped, " (present here)" if OVERSHOOT else "", nodate), "\n".join(bad[:10]))
    tap(compared >= 250 and refused >= 50, "at least 250 expressions compared (%d), 50 refused (%d)"
        % (compared, refused))
    # the examples, as Airflow reads them
    cur.execute("SELECT count(*) FROM kant.cron_occurrences('0 0 */2 * 1', 'UTC', '2024-01-01', '2024-01-11', 'croniter')")
    n = cur.fetchone()[0]
    tap(n == len([t for t in croniter_runs('0 0 */2 * 1') if t < dt.datetime(2024, 1, 11, tzinfo=dt.timezone.utc)]) == 6,
        "0 0 */2 * 1 runs 6 times in 1-10 Jan 2024, as in croniter (%d)" % n)
    dst(cur)
    conn.close()
    tap.plan()


DST_ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Santiago", "Europe/Berlin"]
DST_EXPRS = ["30 1 * * *", "30 2 * * *", "0 2 * * *", "30 */2 * * *", "30 * * * *", "0 0-23 * * *",
             "15 1-3 * * *", "0 0 * * *", "45 23 * * *", "*/30 1,2 * * *", "0 */1 * * *", "30 0-11,12-23 * * *",
             "0 1 * * 0"]


def airflow_runs(expr, zone, start, end):
    """The runs Airflow schedules, one after the other from start: its
    CronMixin._get_next (airflow/timetables/_cron.py) -- croniter in naive
    local time; when croniter's expanded hour field is not "*"
    (_covers_every_hour), the local time made aware by
    airflow.utils.timezone.make_aware (fold=1, pendulum's convert: a time
    in a gap moves forward, a repeated time is its second instance); else the
    naive step added to the aware current time (real time)."""
    import pendulum
    tz = pendulum.timezone(zone)
    out = []
    current = pendulum.instance(start - dt.timedelta(seconds=1)).in_timezone("UTC")
    while True:
        local = current.in_timezone(tz)
        naive = dt.datetime(local.year, local.month, local.day, local.hour, local.minute, local.second)
        it = Croniter(expr, naive)
        scheduled = it.get_next(dt.datetime)
        if it.expanded[1] != ["*"]:
            nxt = pendulum.instance(tz.convert(scheduled.replace(fold=1))).in_timezone("UTC")
        else:
            nxt = (local + (scheduled - naive)).in_timezone("UTC")
        if nxt >= end:
            return out
        out.append(nxt)
        current = nxt


def transitions(zone, year):
    """The UTC hours of a year at which a zone's offset changes."""
    from zoneinfo import ZoneInfo
    z = ZoneInfo(zone)
    t = dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc)
    out = []
    prev = t.astimezone(z).utcoffset()
    while t.year == year:
        t += dt.timedelta(hours=1)
        off = t.astimezone(z).utcoffset()
        if off != prev:
            out.append(t)
        prev = off
    return out


def dst(cur):
    """Across every DST change of 2024 in five zones (one that moves by
    half an hour, one that moves at midnight), kant's croniter dialect runs
    what Airflow's own algorithm schedules."""
    bad = []
    compared = 0
    for zone in DST_ZONES:
        for change in transitions(zone, 2024):
            start, end = change - dt.timedelta(days=2), change + dt.timedelta(days=2)
            for expr in DST_EXPRS:
                want = [t for t in airflow_runs(expr, zone, start, end)]
                cur.execute("SELECT t FROM kant.cron_occurrences(%s, %s, %s, %s, 'croniter') t ORDER BY t",
                            (expr, zone, start, end))
                got = [r[0] for r in cur.fetchall()]
                want = [dt.datetime.fromtimestamp(w.timestamp(), dt.timezone.utc) for w in want]
                compared += 1
                if got != want:
                    bad.append("%s in %s around %s: kant %s, Airflow %s" % (
                        expr, zone, change.date(), [g.strftime("%d %H:%M") for g in got if g not in want],
                        [w.strftime("%d %H:%M") for w in want if w not in got]))
    tap(not bad and compared >= 100,
        "across every DST change of 2024 in %s, %d schedules run what Airflow's CronMixin schedules "
        "(a repeated time: its second instance; real time only for an hour field of all 24 hours)"
        % (", ".join(DST_ZONES), compared), "\n".join(bad[:10]))


main()
