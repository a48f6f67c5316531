#!/usr/bin/env bash
# `make reference`: docs/reference.md written by docs/gen_reference.py from a
# fresh CREATE EXTENSION kant in a throwaway PostgreSQL 15 cluster (pg_virtualenv,
# the options make test uses).  Against a server of your own instead:
#   /usr/bin/python3 docs/gen_reference.py -o docs/reference.md 'dbname=mydb'
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/harness/pgopts.sh
out=$(pwd)/docs/reference.md
pg_virtualenv -v 15 "${kant_pg_opts[@]}" \
	/usr/bin/python3 docs/gen_reference.py --create -o "$out.tmp"
mv "$out.tmp" "$out"
echo "kant: wrote docs/reference.md ($(wc -c <"$out") bytes)"
