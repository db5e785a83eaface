#!/bin/sh
# run.sh: runs one libFuzzer harness for a bounded time over its seed
# corpus and says PASS or FAIL in one line. New inputs go to a temporary
# directory (the seeds in the source tree are only read); a crash, leak,
# sanitizer report, timeout or out-of-memory fails, and the input that did
# it is shown (hex) and kept as FAIL_DIR/crash-<name>-*.
# Usage: fuzz/run.sh ./fuzz_NAME SEED_DIR SECONDS [libFuzzer options...]
# Environment: FAIL_DIR (default .) keeps failing inputs.
set -u
prog=$1
seeds=$2
secs=$3
shift 3
name=$(basename "$prog")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX") || exit 1
mkdir "$tmp/corpus"
trap 'rm -rf "$tmp"' EXIT

"$prog" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=25 \
    -artifact_prefix="$tmp/" -print_final_stats=1 "$@" \
    "$tmp/corpus" "$seeds" >"$tmp/log" 2>&1
rc=$?
if [ "$rc" = 0 ]; then
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/log")
	cov=$(grep -o 'cov: [0-9]*' "$tmp/log" | tail -1)
	echo "PASS: $name ${secs}s, ${runs:-?} runs, $cov"
	exit 0
fi
tail -60 "$tmp/log"
for f in "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* "$tmp"/oom-*; do
	[ -f "$f" ] || continue
	echo "==== failing input $(basename "$f") ($(wc -c <"$f") bytes):"
	od -A d -c "$f" | head -40
	cp "$f" "${FAIL_DIR:-.}/$(basename "$f" | sed "s/^\([a-z]*\)-/\1-$name-/")" 2>/dev/null
done
echo "FAIL: $name (exit $rc)"
exit 1
