"""What the script suites share: TAP output, and a fresh database to work in."""
import subprocess

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
