"""What the script suites (and the benchmarks) share: TAP output, a fresh
database to work in, and a backend's private memory."""
import subprocess
import threading

import psycopg2


class Tap:
    def __init__(self):
        self.n = 0

    def __call__(self, ok, what, detail=""):
        self.n += 1
        print("%s %d - %s" % ("ok" if ok else "not ok", self.n, what))
        if not ok and detail:
            for line in str(detail).splitlines()[:10]:
                print("# " + line)

    def plan(self):
        print("1..%d" % self.n)


tap = Tap()


def fresh_db(db):
    """Drop and create db; an autocommit connection to it and its cursor."""
    subprocess.run(["dropdb", "--if-exists", db], check=True, stderr=subprocess.DEVNULL)
    subprocess.run(["createdb", db], check=True)
    conn = psycopg2.connect(dbname=db)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    return conn, cur


def at_once(db, sql, sessions=2):
    """Run sql in several sessions of db at the same time; each one's rows."""
    out = [None] * sessions

    def run(i):
        conn = psycopg2.connect(dbname=db)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute(sql)
        out[i] = cur.fetchall()
        conn.close()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def rss_anon(pid):
    """Private memory (RssAnon) of a process, in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0
