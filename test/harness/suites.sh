#!/usr/bin/env bash
# Runs inside pg_virtualenv (PGHOST/PGPORT/PGUSER set): pg_regress, isolation,
# pgTAP and script suites; counts every test and prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."

PYTHON=/usr/bin/python3
pgxs=$(dirname "$(pg_config --pgxs)")/../..
pg_regress=$pgxs/src/test/regress/pg_regress
pg_isolation_regress=$pgxs/src/test/isolation/pg_isolation_regress
passed=0
failed=0
count() {	# count ok / FAILED lines of pg_regress-style output in file $1
	local ok bad
	ok=$(grep -cE '(\.\.\.|^ok [0-9]+ -) +ok' "$1" || true)
	bad=$(grep -cE '\.\.\. +FAILED|\.\.\. +failed|^not ok' "$1" || true)
	passed=$((passed + ok)); failed=$((failed + bad))
}

tap() {	# run a TAP-printing command: count its ok / not ok lines; a crash is a failure
	local out=$log/tap rc ok bad
	"$@" >"$out" 2>&1
	rc=$?
	cat "$out"
	ok=$(grep -cE '^ok [0-9]+' "$out" || true)
	bad=$(grep -cE '^not ok' "$out" || true)
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; echo "not ok - $* exited $rc"; fi
	passed=$((passed + ok)); failed=$((failed + bad))
}

only=${1:-all}
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

# The server's environment: variables the secret tests read (kant_server_env,
# pgopts.sh), and with KANT_FAKETIME (e.g. '+400d' or '@2027-03-14 20:30:00') a
# clock moved by Debian's libfaketime, for the server and for every client.
# KANT_OWN_SERVER=1: the caller started the server with them (sanitize.sh).
if [ -z "${KANT_OWN_SERVER:-}" ]; then
	. test/harness/pgopts.sh
	conf=${PG_CLUSTER_CONF_ROOT:-/etc/postgresql}/$PGVERSION/regress
	{
		for kv in "${kant_server_env[@]}"; do echo "${kv%%=*} = '${kv#*=}'"; done
		if [ -n "${KANT_FAKETIME:-}" ]; then
			echo "LD_PRELOAD = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1'"
			echo "FAKETIME = '$KANT_FAKETIME'"
		fi
	} >>"$conf/environment"
	pg_ctlcluster "$PGVERSION" regress restart
fi
if [ -n "${KANT_FAKETIME:-}" ]; then
	echo "== the clock is moved: the server says $(psql -Atc "SELECT now()"), the clients $(date -Is)"
fi

if [ "$only" = all ] || [ "$only" = regress ]; then
	echo "== pg_regress (test/sql)"
	tests=$(ls test/sql/*.sql | xargs -n1 basename | sed 's/\.sql$//')
	"$pg_regress" --inputdir=test --outputdir=. --load-extension=kant \
		--dbname=kant_regress $tests 2>&1 | tee "$log/regress"
	count "$log/regress"
	[ -s regression.diffs ] && head -c 20000 regression.diffs

	echo "== isolation (test/isolation)"
	specs=$(ls test/isolation/*.spec | xargs -n1 basename | sed 's/\.spec$//')
	"$pg_isolation_regress" --inputdir=test --outputdir=. --load-extension=kant \
		--dbname=kant_isolation $specs 2>&1 | tee "$log/isolation"
	count "$log/isolation"
	[ -s regression.diffs ] && head -c 20000 regression.diffs
fi

if [ "$only" = all ] || [ "$only" = pgtap ]; then
	echo "== pgTAP (test/pgtap)"
	dropdb --if-exists kant_tap >/dev/null 2>&1
	createdb kant_tap
	psql -q -d kant_tap -c "CREATE EXTENSION pgtap; CREATE EXTENSION kant;"
	for f in test/pgtap/*.sql; do
		tap pg_prove --verbose --dbname kant_tap "$f"
	done
fi

if [ "$only" = all ] || [ "$only" = scripts ]; then
	echo "== script tests (test/scripts)"
	for f in test/scripts/*.py; do
		[ -e "$f" ] || continue
		[ "$f" = test/scripts/taplib.py ] && continue	# shared helpers, not a suite
		tap "$PYTHON" "$f"
	done
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
