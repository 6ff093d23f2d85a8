#!/usr/bin/env bash
# QEMU guest CPU model under TCG (-cpu, env WRENN_TCG_CPU): each model of BENCH_CPU_MODELS boots the
# debian image (boot path, no snapshot) and runs its userspace; the models take turns (round-robin,
# BENCH_RUNS rounds) so a shared machine's load hits all alike.  Per model M, medians:
#   BENCH cpu_<M>_boot_create <p50> ms p95=<x> n=<N>  boot-path create (VMM start -> envd -> /init)
#   BENCH cpu_<M>_bash_l <p50> ms p95=<x> n=<N>       one `bash -l -c true` in the guest (mean of 10,
#                                                     timed by the guest)
#   BENCH cpu_<M>_exec_rt <p50> ms p95=<x> n=<N>      host: wrenn-rtctl exec ID bash -l -c true
#                                                     (process start, runtime open, envd round trip)
#   BENCH cpu_<M>_python_loop <p50> ms p95=<x> n=<N>  python3: sum over range(300000) in a for loop
#   BENCH cpu_<M>_upload_mibs / _download_mibs <p50> MiB/s n=<N>   20 MiB through envd /files
#                                                     (curl in the sandbox's namespace)
#   BENCH cpu_<M>_userspace_ok <1|0> n=<N>           python3 (ssl, hashlib, json), perl, openssl,
#                                                     apt-get all ran (the debian image has no node)
# Env: WRENN_BUILD (build/release), WRENN_GUEST_DIR, BENCH_RUNS (5),
#      BENCH_CPU_MODELS ("max qemu64 Nehalem").
set -uo pipefail
cd "$(dirname "$0")/.."
B=${WRENN_BUILD:-build/release}
# shellcheck source=tests/lib/rt.sh
. tests/lib/rt.sh
runs=${BENCH_RUNS:-5}
models=${BENCH_CPU_MODELS:-max qemu64 Nehalem}
if [ "$(id -u)" != 0 ] || [ ! -x "$RTCTL" ] || [ ! -r "$GUEST/debian.ext4" ]; then
	echo "# cpu-model.sh: needs root, $RTCTL and $GUEST/debian.ext4" >&2
	echo "BENCH cpu_max_bash_l NaN ms p95=NaN n=0"
	exit 0
fi
rt_init "wbc$$" bench-cpu
mkdir -p "$DATA/images"
for f in debian.ext4 vmlinux; do ln -s "$(realpath "$GUEST/$f")" "$DATA/images/$f"; done
rt_cmd --no-reaper --no-auto-snapshot --warm -1
export WRENN_LOG=info
head -c $((20 << 20)) /dev/urandom >"$WORK/blob"
now_ms() { echo $(($(date +%s%N) / 1000000)); }
ex() { $RT exec "$@" 2>>"$WORK/err"; }
BASHL='s=$(date +%s%N); for i in 1 2 3 4 5 6 7 8 9 10; do bash -l -c true; done; e=$(date +%s%N); echo $(((e - s) / 10000000))'
PY='import time
t = time.perf_counter()
s = 0
for i in range(300000):
    s += i
print(round((time.perf_counter() - t) * 1000))'
CHECK='python3 -c "import ssl, hashlib, json; print(hashlib.sha256(b\"x\").hexdigest()[:8])" && perl -e "print 1+1" && echo x | openssl sha256 && apt-get --version >/dev/null && echo ok'

for round in $(seq 1 "$runs"); do
	for m in $models; do
		out=$(WRENN_TCG_CPU=$m $RT create -t debian 2>"$WORK/log.$m.$round") || {
			echo "# $m round $round: create failed: $(tail -1 "$WORK/log.$m.$round")" >&2
			continue
		}
		id=$(echo "$out" | awk '/^cl-/ {print $1}')
		sed -nE 's/.*created cl-[a-z0-9]+ from debian .* in ([0-9]+) ms: .*/\1/p' "$WORK/log.$m.$round" >>"$WORK/$m.boot"
		export WRENN_TCG_CPU=$m
		ex "$id" bash -c "$BASHL" >>"$WORK/$m.bashl"
		t0=$(now_ms)
		ex "$id" bash -l -c true >/dev/null && echo $(($(now_ms) - t0)) >>"$WORK/$m.rt"
		ex "$id" python3 -c "$PY" >>"$WORK/$m.py"
		if [ "$(ex "$id" bash -c "$CHECK" | tail -1)" = ok ]; then echo 1; else echo 0; fi >>"$WORK/$m.ok"
		ns=$($RT ns "$id" 2>>"$WORK/err")
		U="http://169.254.0.21:49983/files?path=/tmp/blob"
		ip netns exec "$ns" curl -s -f -o /dev/null -w '%{speed_upload}\n' \
			-H 'Content-Type: application/octet-stream' --data-binary @"$WORK/blob" "$U" |
			awk '{printf "%.1f\n", $1 / 1048576}' >>"$WORK/$m.up"
		ip netns exec "$ns" curl -s -f -o /dev/null -w '%{speed_download}\n' "$U" |
			awk '{printf "%.1f\n", $1 / 1048576}' >>"$WORK/$m.down"
		unset WRENN_TCG_CPU
		$RT destroy "$id" >/dev/null 2>>"$WORK/err"
	done
done
echo "# command: WRENN_TCG_CPU=<model> $RT create -t debian; exec bash -l / python3; curl /files 20 MiB; destroy   ($runs rounds over: $models; load $(cut -d' ' -f1-3 /proc/loadavg))"
for m in $models; do
	stats "cpu_${m}_boot_create" "$WORK/$m.boot"
	stats "cpu_${m}_bash_l" "$WORK/$m.bashl"
	stats "cpu_${m}_exec_rt" "$WORK/$m.rt"
	stats "cpu_${m}_python_loop" "$WORK/$m.py"
	for d in up down; do
		name=cpu_${m}_${d/up/upload}_mibs
		name=${name/down_mibs/download_mibs}
		sort -n "$WORK/$m.$d" 2>/dev/null | awk -v n="$name" '{v[NR]=$1} END {
			if (!NR) { print "BENCH " n " NaN MiB/s n=0"; exit }
			printf "BENCH %s %.1f MiB/s n=%d\n", n, (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2, NR }'
	done
	awk -v n="cpu_${m}_userspace_ok" '{s += $1} END {printf "BENCH %s %d n=%d\n", n, (NR && s == NR), NR}' "$WORK/$m.ok" 2>/dev/null ||
		echo "BENCH cpu_${m}_userspace_ok 0 n=0"
done
