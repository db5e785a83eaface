#!/bin/bash
# bench_smtp_perf.sh: one bench/bench_smtp.py run, with the daemon's cost
# per message over the LAST level of --clients: syscalls, context switches
# and task-clock (perf stat attached to the daemon, enabled when the level
# before it has printed its line and stopped when the last one has), the
# daemon's CPU (utime + stime from /proc/PID/stat) and the whole machine's
# (/proc/stat: the clients too). These do not depend on what else loads
# the machine the way msgs/s does. Needs perf and root (or a permissive
# perf_event_paranoid); run from a build directory:
#
#     bench/bench_smtp_perf.sh [bench_smtp.py arguments]
#     ../bench/bench_smtp_perf.sh --messages 6000 --clients 1,10,50 --new-conn
#
# With PERF_RECORD=FILE it records a profile (perf record -g) of the same
# level into FILE instead of counting.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
B=${MINIMAILD:+$(dirname "$MINIMAILD")}
B=${B:-$PWD}
TMP=$(mktemp -d /tmp/bench-smtp-perf.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
trap '' PIPE      # perf gone early: its control fifo must not kill us
MINIMAILD=$B/minimaild MINIMAILCTL=$B/minimailctl TOP_SRCDIR=${TOP_SRCDIR:-$HERE/..} \
    python3 -u "$HERE/bench_smtp.py" "$@" > "$TMP/bench" 2>&1 &
BP=$!
PID=
for _ in $(seq 1 400); do
	PID=$(for p in $BP $(pgrep -P $BP); do pgrep -P "$p" -x minimaild; done | head -1)
	[ -n "$PID" ] && break
	sleep 0.05
done
if [ -z "$PID" ]; then
	echo "bench_smtp_perf: no daemon"; wait $BP; cat "$TMP/bench"; exit 1
fi
NLEV=3
prev=
for a in "$@"; do
	[ "$prev" = --clients ] && NLEV=$(echo "$a" | tr ',' '\n' | wc -l)
	prev=$a
done
lines() { grep -c '^clients=' "$TMP/bench"; }
wait_lines() {
	while kill -0 $BP 2>/dev/null; do
		[ "$(lines)" -ge "$1" ] && return 0
		sleep 0.02
	done
	return 1
}
cpu_pid() { awk '{print $14 + $15}' /proc/$PID/stat; }
cpu_all() { awk '/^cpu /{print $2 + $3 + $4 + $6 + $7 + $8}' /proc/stat; }
mkfifo "$TMP/ctl"
EV=syscalls:sys_enter_writev,syscalls:sys_enter_write,syscalls:sys_enter_epoll_ctl
EV=$EV,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex,syscalls:sys_enter_read
EV=$EV,syscalls:sys_enter_readv,syscalls:sys_enter_fdatasync,syscalls:sys_enter_accept4
EV=$EV,syscalls:sys_enter_close,syscalls:sys_enter_setsockopt,syscalls:sys_enter_getsockname
EV=$EV,syscalls:sys_enter_pwrite64,syscalls:sys_enter_ioctl,context-switches,task-clock
if [ -n "${PERF_RECORD:-}" ]; then
	perf record -q -g -D -1 --control fifo:"$TMP/ctl" -p "$PID" -o "$PERF_RECORD" &
else
	perf stat -x, -D -1 --control fifo:"$TMP/ctl" -e "$EV" -p "$PID" -o "$TMP/perf" 2>/dev/null &
fi
PP=$!
exec 9>"$TMP/ctl"
wait_lines $((NLEV - 1))
echo enable >&9
d0=$(cpu_pid); m0=$(cpu_all)
wait_lines "$NLEV"
d1=$(cpu_pid); m1=$(cpu_all)
echo disable >&9
kill -INT $PP 2>/dev/null; wait $PP 2>/dev/null; exec 9>&-
wait $BP
rc=$?
grep -v '^Events' "$TMP/bench"
MSGS=$(grep '^clients=' "$TMP/bench" | tail -1 | sed 's/.*messages=\([0-9]*\).*/\1/')
[ -n "$MSGS" ] && [ "$MSGS" -gt 0 ] || exit 1
TCK=$(getconf CLK_TCK)
echo "last level, per message: daemon_cpu_ms=$(echo "scale=3; ($d1 - $d0) * 1000 / $TCK / $MSGS" | bc)" \
    "machine_cpu_ms=$(echo "scale=3; ($m1 - $m0) * 1000 / $TCK / $MSGS" | bc)" \
    "(load $(cut -d' ' -f1-3 /proc/loadavg))"
if [ -z "${PERF_RECORD:-}" ]; then
	awk -F, -v m="$MSGS" '$1 ~ /^[0-9.]+$/ { n = $3; sub("syscalls:sys_enter_", "", n);
	    printf " %s=%.2f", n, $1 / m } END { print "" }' "$TMP/perf"
fi
exit $rc
