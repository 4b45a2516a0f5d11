#!/usr/bin/env bash
# qemu.sh — iperf3 TCP from a QEMU guest to the host, through vmnetd's stream
# port and through passt, in one run: the same QEMU, guest kernel, initramfs,
# vCPU count and MTU (1500) on both paths, both directions.
#   ours:  guest virtio-net --stream socket--> vmnetd switch --host tap--> host stack --> iperf3 -s
#   passt: guest virtio-net --stream socket--> passt (frames <-> host TCP sockets) --lo--> iperf3 -s
# The guest's iperf3 client connects to its default gateway: on ours the host
# tap's address, on passt the gateway address passt maps to the host.
# Guests run under TCG (no KVM here), so the guest's CPU may be the limit: the
# guest reports its own CPU use, and the host side samples /proc/PID/stat of
# QEMU's vCPU thread, QEMU's other threads, vmnetd or passt and the iperf3
# server during every transfer. Prints a table and writes bench/out/qemu.md.
#
# Usage: bench/qemu.sh   (root)
# Env:   T=10 (seconds per iperf3 run)  REPS=3 (interleaved repetitions, medians)
#        SMP=1 (guest vCPUs)  PASST_DEFAULT=1 (extra row: passt at its default MTU, 65520)
#        NICE=0 (e.g. -10: both paths' processes ahead of other jobs on a shared machine)
#        BUILD=<repo>/build  OUT=<repo>/bench/out  NOBUILD=1 (skip ninja)
# Installs iperf3 and passt with apt-get when they are missing; builds the
# guest image with iperf3 in it (tests/guest/build.sh into tests/guest/out/iperf3,
# the tests' own image is untouched). Everything runs in two private network
# namespaces made here (one "host" per path); a trap kills what it started by
# PID, deletes the namespaces and removes the temp dir.
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-$ROOT/build}
OUT=${OUT:-$ROOT/bench/out}
T=${T:-10}
REPS=${REPS:-3}
SMP=${SMP:-1}
PASST_DEFAULT=${PASST_DEFAULT:-1}
NICE=${NICE:-0}
IMG=$ROOT/tests/guest/out/iperf3
MAC=52:54:00:be:00:01
TAG=vqm$$
[ "$(id -u)" = 0 ] || { echo "qemu.sh: needs root" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "qemu.sh: needs qemu-system-x86_64" >&2; exit 1; }
missing=()
command -v iperf3 >/dev/null || missing+=(iperf3)
command -v passt >/dev/null || missing+=(passt)
if [ ${#missing[@]} -gt 0 ]; then
	echo "qemu.sh: installing ${missing[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 ||
		echo "qemu.sh: apt-get install ${missing[*]} failed" >&2
fi
command -v iperf3 >/dev/null || { echo "qemu.sh: needs iperf3 (apt-get install iperf3)" >&2; exit 1; }
HAVE_PASST=1
command -v passt >/dev/null || HAVE_PASST=0
[ -n "${NOBUILD:-}" ] || ninja -C "$BUILD" daemon/vmnetd cli/vmnet >/dev/null
EXTRA_BINS=$(command -v iperf3) tests/guest/build.sh "$IMG" >/dev/null ||
	{ echo "qemu.sh: tests/guest/build.sh failed (needs linux-image-amd64 busybox-static cpio)" >&2; exit 1; }

WORK=$(mktemp -d "/tmp/vmnet-qemubench.XXXXXX")
PIDS=()
SAMPLER_PID=""
cleanup() {
	set +e
	[ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null
	[ -s "$WORK/qemu.pid" ] && kill "$(cat "$WORK/qemu.pid")" 2>/dev/null
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for ns in "${TAG}o" "${TAG}p"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$OUT"
chmod 711 "$WORK" # passt drops to nobody before it binds its socket: it needs a way in
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
# What else keeps the machine busy (other jobs skew every figure here): 2 s of /proc/stat.
busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
b0=$(busy_jiffies); sleep 2; b1=$(busy_jiffies)
BUSY0=$(( (b1 - b0) * 100 / $(getconf CLK_TCK) / 2 ))

# One "host" namespace per path, so that each iperf3 server sees only its own path.
for ns in o p; do ip netns add "${TAG}$ns"; ip -n "${TAG}$ns" link set lo up; done

# ours: a private vmnetd; as root it gives the network a host tap carrying the gateway address.
export VMNET_SOCKET=$WORK/vmnetd.sock
# ip netns exec and nice exec the program: $! is the program itself.
ip netns exec "${TAG}o" nice -n "$NICE" "$BUILD/daemon/vmnetd" --socket "$VMNET_SOCKET" --state-dir "$WORK/state" \
	>"$WORK/vmnetd.log" 2>&1 &
VMNETD_PID=$!
PIDS+=("$VMNETD_PID")
for _ in $(seq 100); do [ -S "$VMNET_SOCKET" ] && break; sleep 0.05; done
for _ in $(seq 20); do
	"$BUILD/cli/vmnet" attach --qemu-stream "$WORK/ours.sock" --name qbench >/dev/null 2>&1 && break
	sleep 0.1
done
[ -S "$WORK/ours.sock" ] || { echo "qemu.sh: vmnetd did not attach the stream socket"; cat "$WORK/vmnetd.log"; exit 1; }
OURS_HOST=""
for _ in $(seq 50); do
	OURS_HOST=$(ip -n "${TAG}o" -4 -o addr show | awk '$2 ~ /^vmnet-host/ { sub(/\/.*/, "", $4); print $4; exit }')
	[ -n "$OURS_HOST" ] && break
	sleep 0.1
done
[ -n "$OURS_HOST" ] || { echo "qemu.sh: no host tap in the namespace"; cat "$WORK/vmnetd.log"; exit 1; }

# passt: it takes its addresses from the interface with the default route, so the namespace
# gets one (a veth pair, both ends here); the guest is given 10.89.0.1 and reaches the host
# through the gateway 10.89.0.254, which passt maps to the host's loopback.
PASST_PID="" PASST_DEF_PID=""
if [ "$HAVE_PASST" = 1 ]; then
	ip -n "${TAG}p" link add up0 type veth peer name up1
	ip -n "${TAG}p" addr add 10.89.0.1/24 dev up0
	ip -n "${TAG}p" link set up0 up
	ip -n "${TAG}p" link set up1 up
	ip -n "${TAG}p" route add default via 10.89.0.254
	mkdir "$WORK/passt"
	chown nobody: "$WORK/passt"
	ip netns exec "${TAG}p" nice -n "$NICE" passt -f -q -s "$WORK/passt/mtu1500.sock" --mtu 1500 -l "$WORK/passt.log" \
		>"$WORK/passt.out" 2>&1 &
	PASST_PID=$!
	PIDS+=("$PASST_PID")
	if [ "$PASST_DEFAULT" = 1 ]; then
		ip netns exec "${TAG}p" nice -n "$NICE" passt -f -q -s "$WORK/passt/default.sock" -l "$WORK/passt-default.log" \
			>"$WORK/passt-default.out" 2>&1 &
		PASST_DEF_PID=$!
		PIDS+=("$PASST_DEF_PID")
	fi
	for s in mtu1500 default; do
		[ $s = default ] && [ "$PASST_DEFAULT" != 1 ] && continue
		for _ in $(seq 50); do [ -S "$WORK/passt/$s.sock" ] && break; sleep 0.1; done
		[ -S "$WORK/passt/$s.sock" ] || { echo "qemu.sh: passt ($s) did not bind its socket"; cat "$WORK"/passt*.out; exit 1; }
	done
fi

for ns in o p; do
	ip netns exec "${TAG}$ns" nice -n "$NICE" iperf3 -s -D --pidfile "$WORK/iperf-$ns.pid"
done
sleep 0.5
IPERF_O=$(cat "$WORK/iperf-o.pid") IPERF_P=$(cat "$WORK/iperf-p.pid")
PIDS+=("$IPERF_O" "$IPERF_P")

# The guest: both directions to its default gateway, its own CPU use around each run.
# /proc/stat "cpu": user nice system idle iowait irq softirq steal.
cat >"$WORK/guest.sh" <<EOF
H=\$(ip route | awk '/^default/ { print \$3; exit }')
echo "BENCH_MTU \$(cat /sys/class/net/eth0/mtu) \$H"
cpu() { awk '/^cpu / { print \$2 + \$3 + \$4 + \$7 + \$8 + \$9, \$5 + \$6 }' /proc/stat; }
frames() { cat /sys/class/net/eth0/statistics/tx_packets /sys/class/net/eth0/statistics/rx_packets; }
for dir in up down; do
	flag=""; [ \$dir = down ] && flag=-R
	echo "BENCH_MARK begin \$dir"
	set -- \$(cpu) \$(frames)
	iperf3 -c "\$H" -t $T -O 1 -f m \$flag >/tmp/\$dir.txt 2>&1
	rc=\$?
	set -- "\$@" \$(cpu) \$(frames)
	echo "BENCH_MARK end \$dir"
	mbit=\$(sed -n 's/.* \([0-9.]*\) Mbits\/sec .*receiver.*/\1/p' /tmp/\$dir.txt | tail -1)
	echo "BENCH_RESULT \$dir \$rc \${mbit:-0} \$(( (\$5 - \$1) * 100 / (\$5 - \$1 + \$6 - \$2 + 1) )) \$((\$7 - \$3)) \$((\$8 - \$4))"
	[ \$rc = 0 ] || cat /tmp/\$dir.txt
done
sleep 1 # the host's sampler sees the last mark before QEMU is gone
EOF

# The host-side sampler: CPU of each process between the guest's BENCH_MARK lines on its console.
cat >"$WORK/sample.py" <<'EOF'
"""sample.py LOG QEMU_PIDFILE OUT LABEL=PID... — per transfer: %CPU of QEMU's vCPU
threads, QEMU's other threads, each LABEL's process, the whole machine and the
rest of it (the kernel's softirq work outside these processes, anything else running)."""
import os, sys, time

log, pidfile, out = sys.argv[1:4]
procs = [a.split("=", 1) for a in sys.argv[4:]]
hz = os.sysconf("SC_CLK_TCK")

def task_ticks(path):
    try:
        with open(path + "/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])  # utime stime
    except (OSError, IndexError):
        return 0

def snapshot(qpid):
    s = {"vcpu": 0, "qemu_io": 0}
    base = "/proc/%s/task" % qpid
    for tid in os.listdir(base) if os.path.isdir(base) else []:
        try:
            comm = open("%s/%s/comm" % (base, tid)).read()
        except OSError:
            continue
        s["vcpu" if comm.startswith("CPU ") else "qemu_io"] += task_ticks("%s/%s" % (base, tid))
    for label, pid in procs:
        s[label] = task_ticks("/proc/" + pid)
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    s["machine"] = sum(v) - v[3] - v[4]
    return time.monotonic(), s

deadline = time.monotonic() + 60
while not (os.path.exists(pidfile) and os.path.getsize(pidfile)) and time.monotonic() < deadline:
    time.sleep(0.05)
qpid = open(pidfile).read().strip() if os.path.exists(pidfile) else "0"
pos, begin = 0, {}
with open(out, "w") as o:
    while os.path.exists("/proc/" + qpid):
        try:
            with open(log, "rb") as f:
                f.seek(pos)
                chunk = f.read()
        except OSError:
            chunk = b""
        nl = chunk.rfind(b"\n")
        if nl < 0:
            time.sleep(0.05)
            continue
        pos += nl + 1
        for line in chunk[:nl].decode(errors="replace").replace("\r", "").split("\n"):
            w = line.split()
            if len(w) != 3 or w[0] != "BENCH_MARK":
                continue
            if w[1] == "begin":
                begin[w[2]] = snapshot(qpid)
            elif w[2] in begin:
                (t0, a), (t1, b) = begin.pop(w[2]), snapshot(qpid)
                pct = {k: 100.0 * (b[k] - a[k]) / hz / (t1 - t0) for k in a}
                pct["rest"] = pct["machine"] - sum(v for k, v in pct.items() if k != "machine")
                o.write(w[2] + "".join(" %s=%.0f" % kv for kv in pct.items()) + "\n")
                o.flush()
EOF

# boot PATH SOCKET SWITCH_PID IPERF_PID NS REP — one guest on SOCKET, both directions;
# appends "PATH DIR GBIT/S GUEST_BUSY% MTU FRAMES_OUT FRAMES_IN" (the guest's eth0) to
# raw.tsv and the sampler's CPU line to cpu.tsv.
boot() {
	local path=$1 sock=$2 spid=$3 ipid=$4 ns=$5 rep=$6 sp rc=0 mtu
	local log=$WORK/console-$path-$rep.log
	rm -f "$WORK/qemu.pid"
	: >"$log"
	python3 "$WORK/sample.py" "$log" "$WORK/qemu.pid" "$WORK/cpu-$path-$rep.txt" "switch=$spid" "iperf3s=$ipid" &
	sp=$!
	SAMPLER_PID=$sp
	GUEST_IMAGE=$IMG ip netns exec "$ns" nice -n "$NICE" tests/guest/run.sh -t $((2 * T + 120)) -c "$SMP" -m "$MAC" -l "$log" \
		"$WORK/guest.sh" -- -netdev "stream,id=n0,server=off,addr.type=unix,addr.path=$sock" \
		-name "qbench,debug-threads=on" -pidfile "$WORK/qemu.pid" >"$WORK/guest-$path-$rep.out" 2>&1 || rc=$?
	wait "$sp" 2>/dev/null || true
	SAMPLER_PID=""
	if [ $rc != 0 ] || ! grep -q '^BENCH_RESULT down 0 ' "$WORK/guest-$path-$rep.out"; then
		echo "qemu.sh: $path guest failed (rep $rep, status $rc):" >&2
		sed 's/^/  /' "$WORK/guest-$path-$rep.out" >&2
	fi
	mtu=$(awk '$1 == "BENCH_MTU" { print $2 }' "$WORK/guest-$path-$rep.out")
	awk -v p="$path" -v m="${mtu:-?}" '$1 == "BENCH_RESULT" && $3 == 0 { printf "%s\t%s\t%.3f\t%s\t%s\t%s\t%s\n", p, $2, $4 / 1000, $5, m, $6, $7 }' \
		"$WORK/guest-$path-$rep.out" >"$WORK/res.tsv"
	cat "$WORK/res.tsv" >>"$WORK/raw.tsv"
	# The sampler's lines, each with this run's Gbit/s per core of the vCPU thread added.
	touch "$WORK/cpu-$path-$rep.txt"
	awk -v p="$path" 'NR == FNR { g[$2] = $3; next }
		{ v = 0; for (i = 2; i <= NF; i++) if ($i ~ /^vcpu=/) v = substr($i, 6) + 0
		  printf "%s %s per_vcpu=%s\n", p, $0, (($1 in g) && v > 0 ? sprintf("%.2f", g[$1] * 100 / v) : "n/a") }' \
		"$WORK/res.tsv" "$WORK/cpu-$path-$rep.txt" >>"$WORK/cpu.tsv"
}

PATHS=(ours)
[ "$HAVE_PASST" = 1 ] && PATHS+=(passt)
[ "$HAVE_PASST" = 1 ] && [ "$PASST_DEFAULT" = 1 ] && PATHS+=(passt65520)
: >"$WORK/raw.tsv"
: >"$WORK/cpu.tsv"
for rep in $(seq "$REPS"); do
	order=("${PATHS[@]}")
	# Interleaved, and the first path alternates so that neither always boots first.
	[ $((rep % 2)) = 0 ] && [ ${#order[@]} -gt 1 ] && order=("${order[1]}" "${order[0]}" "${order[@]:2}")
	for path in "${order[@]}"; do
		case $path in
		ours) boot ours "$WORK/ours.sock" "$VMNETD_PID" "$IPERF_O" "${TAG}o" "$rep" ;;
		passt) boot passt "$WORK/passt/mtu1500.sock" "$PASST_PID" "$IPERF_P" "${TAG}p" "$rep" ;;
		passt65520) boot passt65520 "$WORK/passt/default.sock" "$PASST_DEF_PID" "$IPERF_P" "${TAG}p" "$rep" ;;
		esac
	done
done

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "n/a"; else print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
gbit() { awk -v p="$1" -v d="$2" '$1 == p && $2 == d { print $3 }' "$WORK/raw.tsv" | median; }
cpu() { # cpu PATH DIR KEY — median of KEY (%CPU, or per_vcpu) over the reps
	awk -v p="$1" -v d="$2" -v k="$3" '$1 == p && $2 == d { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k && kv[2] != "n/a") print kv[2] } }' \
		"$WORK/cpu.tsv" | median
}
ratio() { python3 -c "import sys; a, b = sys.argv[1:]; print('%.2f' % (float(a) / float(b)) if a != 'n/a' and b != 'n/a' and float(b) else 'n/a')" "$1" "$2"; }
label() { [ "$1" = up ] && echo "guest → host" || echo "host → guest"; }
mtu_of() { awk -v p="$1" '$1 == p { print $5; exit }' "$WORK/raw.tsv"; }
switch_name() { case $1 in ours) echo vmnetd ;; *) echo passt ;; esac; }
# Where frames could have been lost on our side: vmnetd's counters and the host tap's own.
"$BUILD/cli/vmnet" status --json >"$WORK/status.json" 2>/dev/null || true
OURS_LOSS=$(python3 - "$WORK/status.json" "${TAG}o" <<'EOPY' 2>/dev/null
import json, subprocess, sys
d = json.load(open(sys.argv[1])); n = d["networks"][0]; tap = n.get("host_tap", "")
drops = sum(p.get("tx_drops", 0) for p in n["ports"])
k = subprocess.run(["ip", "netns", "exec", sys.argv[2], "sh", "-c",
                    "cat /sys/class/net/%s/statistics/rx_dropped /sys/class/net/%s/statistics/tx_dropped" % (tap, tap)],
                   capture_output=True, text=True).stdout.split()
print("vmnetd ports dropped %d frames; host tap %s: %d refused, %d TCP segments merged; kernel rx_dropped %s, tx_dropped %s"
      % (drops, tap, n.get("host_drops", 0), n.get("host_merged", 0), k[0] if k else "?", k[1] if len(k) > 1 else "?"))
EOPY
)
{
	echo "## QEMU guest → host: vmnetd stream port vs passt — iperf3 TCP, ${T} s × ${REPS} (medians)"
	echo
	if [ "$HAVE_PASST" = 1 ]; then
		echo "| direction | ours (Gbit/s) | passt (Gbit/s) | ours/passt |"
		echo "|---|---:|---:|---:|"
		for dir in up down; do
			o=$(gbit ours $dir) p=$(gbit passt $dir)
			echo "| $(label $dir) | $o | $p | $(ratio "$o" "$p") |"
		done
		echo
		echo "Guest MTU: ours $(mtu_of ours), passt $(mtu_of passt) (\`--mtu 1500\`). Per core of the guest's vCPU"
		echo "thread (Gbit/s ÷ its share of a host core; other jobs on the machine move it least),"
		echo "ours/passt: guest → host $(ratio "$(cpu ours up per_vcpu)" "$(cpu passt up per_vcpu)"),"
		echo "host → guest $(ratio "$(cpu ours down per_vcpu)" "$(cpu passt down per_vcpu)")."
		if [ "$PASST_DEFAULT" = 1 ]; then
			echo
			echo "Extra, **not like for like**: passt at its default MTU (no \`--mtu\`: the guest is told $(mtu_of passt65520))."
			echo
			echo "| direction | passt, MTU $(mtu_of passt65520) (Gbit/s) | ours (MTU $(mtu_of ours)) / this |"
			echo "|---|---:|---:|"
			for dir in up down; do
				p=$(gbit passt65520 $dir)
				echo "| $(label $dir) | $p | $(ratio "$(gbit ours $dir)" "$p") |"
			done
		fi
	else
		echo "passt is not installed and \`apt-get install passt\` failed: ours only."
		echo
		echo "| direction | ours (Gbit/s) |"
		echo "|---|---:|"
		for dir in up down; do echo "| $(label $dir) | $(gbit ours $dir) |"; done
	fi
	echo
	echo "Every rep (Gbit/s, in run order):"
	for path in "${PATHS[@]}"; do
		for dir in up down; do
			echo "$path $dir: $(awk -v p="$path" -v d="$dir" '$1 == p && $2 == d { printf "%s ", $3 }' "$WORK/raw.tsv")"
		done
	done | sed 's/ *$//; s/^/    /'
	echo
	echo "CPU during the transfers (medians; % of one core; the machine has $(nproc) cores = $(($(nproc) * 100)) %):"
	echo
	echo "| path | direction | guest busy (guest's /proc/stat) | QEMU vCPU thread | QEMU other threads | vmnetd / passt | iperf3 server | rest of the machine | whole machine | Gbit/s per vCPU-thread core | ACK frames per 100 data frames |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for path in "${PATHS[@]}"; do
		for dir in up down; do
			gb=$(awk -v p="$path" -v d="$dir" '$1 == p && $2 == d { print $4 }' "$WORK/raw.tsv" | median)
			# up: the guest sends data and receives ACKs; down the other way round
			acks=$(awk -v p="$path" -v d="$dir" '$1 == p && $2 == d && $6 > 0 && $7 > 0 {
				printf "%.0f\n", d == "up" ? 100 * $7 / $6 : 100 * $6 / $7 }' "$WORK/raw.tsv" | median)
			echo "| $path | $(label $dir) | $gb | $(cpu "$path" $dir vcpu) | $(cpu "$path" $dir qemu_io) |" \
				"$(switch_name "$path") $(cpu "$path" $dir switch) | $(cpu "$path" $dir iperf3s) | $(cpu "$path" $dir rest) | $(cpu "$path" $dir machine) | $(cpu "$path" $dir per_vcpu) | $acks |"
		done
	done
	echo
	echo "Guest: Debian kernel + busybox initramfs with iperf3 (tests/guest/), QEMU TCG (no KVM), -smp $SMP,"
	echo "virtio-net-pci on -netdev stream (UNIX socket) on both paths; the guest's iperf3 client connects to"
	echo "its default gateway (ours: the host tap $OURS_HOST; passt: 10.89.0.254, mapped to the host)."
	echo "A guest that is ~100 % busy is limited by its own (emulated) CPU, not by the path behind QEMU;"
	echo "when its vCPU thread then gets less than a whole host core, the host's CPUs are shared out too"
	echo "thinly (\"rest of the machine\": the kernel's softirq work outside the listed processes and any"
	echo "other job). Gbit/s per vCPU-thread core is the figure that other jobs on the machine disturb least:"
	echo "what a path costs the TCG guest per byte."
	echo
	[ -n "$OURS_LOSS" ] && { echo "Ours, over all runs: $OURS_LOSS."; echo; }
	echo "command: T=$T REPS=$REPS SMP=$SMP PASST_DEFAULT=$PASST_DEFAULT NICE=$NICE bench/qemu.sh; $(uname -r); $(nproc) CPUs;" \
		"$(qemu-system-x86_64 --version | head -1); passt $(dpkg-query -W -f='${Version}' passt 2>/dev/null || echo n/a);" \
		"iperf3 $(dpkg-query -W -f='${Version}' iperf3 2>/dev/null); before the run: load $LOAD0, machine busy $BUSY0 %;" \
		"git $(git describe --always --dirty 2>/dev/null)"
} | tee "$OUT/qemu.md"
cp "$WORK/raw.tsv" "$OUT/qemu-raw.tsv"
cp "$WORK/cpu.tsv" "$OUT/qemu-cpu.tsv"
