#!/usr/bin/env bash
# run.sh - install what is missing, build, run every test; ends with "N passed, N failed".
#
#   tests/run.sh                 everything: unit, ASan/UBSan units, fuzz smoke, integration
#   tests/run.sh unit|asan|fuzz|integration   one stage (several may be given)
#   env: FUZZ_SECONDS (default 20) per fuzz target; PYTEST_ARGS extra pytest arguments
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STAGES=("$@")
[ "${#STAGES[@]}" -eq 0 ] && STAGES=(unit asan fuzz integration)
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
LOGDIR="$ROOT/build/test-logs"
PASSED=0
FAILED=0
FAILURES=()

log() { printf '\n=== %s\n' "$*"; }
pass() { PASSED=$((PASSED + 1)); printf 'PASS %s\n' "$1"; }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$1"); printf 'FAIL %s\n' "$1"; }
want() { local s; for s in "${STAGES[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

# Count meson test results from its JSON log: one line per test.
count_meson() {
	local dir="$1" label="$2" json="$1/meson-logs/testlog.json"
	if [ ! -s "$json" ]; then
		fail "$label: no test log (meson test did not run)"
		return
	fi
	while IFS=$'\t' read -r name result; do
		case "$result" in
		OK | EXPECTEDFAIL) pass "$label/$name" ;;
		SKIP) printf 'SKIP %s\n' "$label/$name" ;;
		*) fail "$label/$name ($result)" ;;
		esac
	done < <(/usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]):
    t = json.loads(line)
    print(t["name"].split(" / ")[-1] + "\t" + t["result"])' "$json")
}

log "dependencies"
if [ "$(id -u)" -eq 0 ]; then
	bash deploy/install-deps.sh || { echo "install-deps failed"; echo "0 passed, 1 failed"; exit 1; }
else
	echo "not root: skipping deploy/install-deps.sh (integration tests need root)"
fi

log "build"
if [ ! -f build/build.ninja ]; then
	meson setup build >/dev/null || { echo "meson setup failed"; echo "0 passed, 1 failed"; exit 1; }
fi
if ! ninja -C build; then
	echo "build failed"
	echo "0 passed, 1 failed"
	exit 1
fi
mkdir -p "$LOGDIR"

if want unit; then
	log "unit tests (meson test, suite unit)"
	meson test -C build --suite unit --print-errorlogs --num-processes 2
	count_meson build unit
fi

if want asan; then
	log "unit tests without EAL under ASan/UBSan"
	if [ ! -f build-asan/build.ninja ]; then
		meson setup build-asan -Dgateway=disabled -Db_sanitize=address,undefined \
			-Db_lundef=false -Dbuildtype=debug >/dev/null
	fi
	if ninja -C build-asan; then
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
			meson test -C build-asan --suite noeal --print-errorlogs --num-processes 2
		count_meson build-asan asan
	else
		fail "asan: build"
	fi
fi

if want fuzz; then
	log "fuzz smoke (${FUZZ_SECONDS}s per target)"
	if [ ! -f build-fuzz/build.ninja ]; then
		CC=clang meson setup build-fuzz -Dgateway=disabled -Dfuzz=true -Db_lundef=false \
			-Dbuildtype=debugoptimized >/dev/null
	fi
	if ninja -C build-fuzz; then
		for f in build-fuzz/tests/fuzz/fuzz_*; do
			[ -f "$f" ] && [ -x "$f" ] || continue
			name="$(basename "$f")"
			corpus="$ROOT/build-fuzz/corpus/$name"
			mkdir -p "$corpus"
			seeds="$ROOT/tests/fuzz/seeds/${name#fuzz_}"
			if "$f" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
				-print_final_stats=1 "$corpus" $([ -d "$seeds" ] && echo "$seeds") \
				>"$LOGDIR/$name.log" 2>&1; then
				pass "fuzz/$name ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$LOGDIR/$name.log" | grep -o '[0-9]*$') runs)"
			else
				tail -40 "$LOGDIR/$name.log"
				fail "fuzz/$name (crash: see $LOGDIR/$name.log)"
			fi
		done
	else
		fail "fuzz: build"
	fi
fi

if want integration; then
	log "integration tests (pytest, netns + veth)"
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP integration: needs root"
	else
		junit="$LOGDIR/integration.xml"
		rm -f "$junit"
		BYPASSD_BUILD="$ROOT/build" timeout 1500 /usr/bin/python3 -m pytest tests/integration \
			-v -p no:cacheprovider --junitxml="$junit" ${PYTEST_ARGS:-}
		if [ -s "$junit" ]; then
			while IFS=$'\t' read -r name result; do
				case "$result" in
				ok) pass "integration/$name" ;;
				skip) printf 'SKIP %s\n' "integration/$name" ;;
				*) fail "integration/$name" ;;
				esac
			done < <(/usr/bin/python3 -c '
import sys, xml.etree.ElementTree as ET
for tc in ET.parse(sys.argv[1]).iter("testcase"):
    r = "ok"
    for c in tc:
        if c.tag in ("failure", "error"): r = "fail"
        elif c.tag == "skipped" and r == "ok": r = "skip"
    print(tc.get("classname", "").split(".")[-1] + "::" + tc.get("name") + "\t" + r)' "$junit")
		else
			fail "integration: pytest produced no report"
		fi
	fi
fi

log "summary"
for f in "${FAILURES[@]+"${FAILURES[@]}"}"; do
	echo "failed: $f"
done
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
