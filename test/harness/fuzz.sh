#!/usr/bin/env bash
# `make fuzz`: build every libFuzzer target test/fuzz/fuzz_*.c with ASan and
# UBSan (clang 14, -DFRONTEND, PostgreSQL's libpgcommon/libpgport for palloc
# and friends) and run each for FUZZ_SECONDS (default 60) from its committed
# seed corpus test/fuzz/corpus/<target>/.  Fails on any crash, sanitizer
# report, leak, timeout or broken invariant; prints the executions per target.
#
# A target names the kant sources it links and its longest input in its
# header comment:  " * fuzz-sources: src/x.c src/y.c"  " * fuzz-max-len: 256".
# New inputs the fuzzer finds go to a scratch corpus (FUZZ_OUT), never into
# the committed one; a crashing input is left there as crash-<sha1>: after
# the fix, copy it into test/fuzz/corpus/<target>/ as a regression seed.
#
# FUZZ_SECONDS=0 runs every seed once and stops (a regression check).
# FUZZ_TARGETS="fuzz_cron" runs only those.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${FUZZ_SECONDS:-60}
out=${FUZZ_OUT:-$(mktemp -d /tmp/kant-fuzz.XXXXXX)}
mkdir -p "$out"
cc=${FUZZ_CC:-clang-14}
command -v "$cc" >/dev/null || { echo "fuzz: $cc is missing (test/harness/deps.sh fuzz installs it)"; exit 1; }
inc=$(pg_config --includedir-server)
lib=$(pg_config --pkglibdir)
symbolizer=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)
# postgres_fe.h has gcc's gnu_printf attribute, which clang ignores
cflags=(-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=undefined -DFRONTEND -Isrc -I"$inc"
	-Wall -Wextra -Werror -Wno-unused-parameter -Wno-ignored-attributes
	-Wno-compound-token-split-by-macro)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0${symbolizer:+:external_symbolizer_path=$symbolizer}
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

targets=()
for f in test/fuzz/fuzz_*.c; do
	t=$(basename "$f" .c)
	if [ -n "${FUZZ_TARGETS:-}" ] && ! [[ " $FUZZ_TARGETS " == *" $t "* ]]; then continue; fi
	targets+=("$t")
done
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no target under test/fuzz/"; exit 1; }

failed=0
skipped=0
summary=()
for t in "${targets[@]}"; do
	src=test/fuzz/$t.c
	srcs=$(sed -n 's/^ \* fuzz-sources: *//p' "$src")
	maxlen=$(sed -n 's/^ \* fuzz-max-len: *//p' "$src")
	missing=$(for f in $srcs; do [ -e "$f" ] || echo "$f"; done)
	if [ -n "$missing" ]; then
		echo "== $t: SKIPPED, pending: $(echo $missing) not in this tree (see $src)"
		summary+=("$t: SKIPPED (pending: $(echo $missing))")
		skipped=$((skipped + 1))
		continue
	fi
	mkdir -p "$out/$t/corpus"
	echo "== $t: building ($src $srcs)"
	# shellcheck disable=SC2086
	"$cc" "${cflags[@]}" "$src" $srcs "$lib/libpgcommon.a" "$lib/libpgport.a" -o "$out/$t/$t"
	args=(-max_len="${maxlen:-4096}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
		-artifact_prefix="$out/$t/")
	[ -f "test/fuzz/$t.dict" ] && args+=(-dict="test/fuzz/$t.dict")
	if [ "$seconds" -eq 0 ]; then
		args+=(-runs=0)
		echo "== $t: every seed once"
	else
		args+=(-max_total_time="$seconds")
		echo "== $t: fuzzing for ${seconds}s, max_len ${maxlen:-4096}"
	fi
	start=$(date +%s)
	rc=0
	"$out/$t/$t" "${args[@]}" "$out/$t/corpus" "test/fuzz/corpus/$t" >"$out/$t/log" 2>&1 || rc=$?
	took=$(( $(date +%s) - start ))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t/log" | tail -1)
	seeds=$(find "test/fuzz/corpus/$t" -type f | wc -l)
	found=$(find "$out/$t/corpus" -type f | wc -l)
	# what the target itself prints (legal but odd inputs), once each
	grep -a "^$t: " "$out/$t/log" | sort | uniq -c | head -20 || true
	if [ "$rc" -ne 0 ] || grep -aqE '^(==[0-9]+==ERROR|SUMMARY: (Address|Undefined|Leak)Sanitizer)|runtime error:' "$out/$t/log"; then
		failed=$((failed + 1))
		echo "== $t: FAILED (exit $rc) after ${execs:-?} executions in ${took}s; log $out/$t/log"
		grep -aE 'ERROR|runtime error|invariant broken|SUMMARY|Test unit written' "$out/$t/log" | head -20
		ls "$out/$t"/crash-* "$out/$t"/leak-* "$out/$t"/timeout-* "$out/$t"/oom-* 2>/dev/null || true
		summary+=("$t: FAILED, ${execs:-?} executions in ${took}s")
	else
		echo "== $t: ok, ${execs:-?} executions in ${took}s ($seeds seeds, $found new inputs in $out/$t/corpus)"
		summary+=("$t: ok, ${execs:-?} executions in ${took}s")
	fi
done
echo
printf '%s\n' "${summary[@]}"
echo "fuzz: $(( ${#targets[@]} - failed - skipped )) targets ok, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
