#!/usr/bin/env bash
# Install the Debian 12 packages kant needs to build, test and demo, when missing.
# Runs apt-get as root (CI) or through sudo; does nothing when all are present.
# `deps.sh fuzz` adds what `make fuzz` and `make sanitize` need: clang 14 with
# its libFuzzer and sanitizer runtimes (libclang-rt-14-dev), llvm-symbolizer.
set -euo pipefail

PG=15
packages=(
	make gcc libc6-dev
	"postgresql-$PG" "postgresql-server-dev-$PG" "postgresql-$PG-cron" "postgresql-$PG-pgtap"
	postgresql-client-common libtap-parser-sourcehandler-pgtap-perl
	libcurl4-openssl-dev libssl-dev
	python3 python3-psycopg2 python3-botocore python3-croniter python3-jinja2 python3-pendulum python3-jwt
	python3-google-auth python3-cryptography
	openjdk-17-jdk-headless libpostgresql-jdbc-java python3-jsonschema python3-yaml
	faketime
)
for group in "$@"; do
	case "$group" in
		fuzz) packages+=(clang-14 libclang-rt-14-dev llvm-14) ;;
		*) echo "deps.sh: unknown group $group" >&2; exit 2 ;;
	esac
done

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "kant: installing missing packages: ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null; then
		sudo=(sudo)
	else
		echo "kant: run as root or install: ${missing[*]}" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
