#!/usr/bin/env bash
# The event allocator benchmarks (BENCHMARKS.md): criterion timings of benches/allocator.rs,
# callgrind instruction counts of benches/pair_count.rs, and a summary table with ratios.
# Then the render path's (benches/render.rs): events/s through PutMessage -> sequencer ->
# loopback, and the sequencer against a sorted linked list with 10, 1000 and 100000 events
# pending, with ratios. Then the capture path's (benches/capture.rs): bytes/s and ns per byte
# through ring -> parser -> events, the ISR side and the DPC side apart and together.
#
#   tools/bench.sh                       # everything, a few minutes on 2 cores
#   CARGO_TARGET_DIR=/somewhere tools/bench.sh
#   CRITERION_ARGS="--measurement-time 10" tools/bench.sh   # longer criterion runs (allocator)
#   RENDER_CRITERION_ARGS="--measurement-time 5" tools/bench.sh   # the same for render
#   SKIP_CRITERION=1 tools/bench.sh      # callgrind counts only (and the last criterion figures)
#   SKIP_ALLOCATOR=1 tools/bench.sh      # no allocator part
#   SKIP_RENDER=1 tools/bench.sh         # no render part
#   SKIP_CAPTURE=1 tools/bench.sh        # no capture part
#   SKIP_CHAIN=1 tools/bench.sh          # no whole-chain part (native build vs image)
#   CAPTURE_CRITERION_ARGS="--measurement-time 5" tools/bench.sh   # the same for capture
#   IDLE_WAIT=0 tools/bench.sh           # do not wait for the machine to be idle first
#   CALLGRIND_N=100000 tools/bench.sh    # fewer pairs under callgrind
#
# Needs cargo, valgrind and python3.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=$TARGET_DIR
export CRITERION_HOME=$TARGET_DIR/criterion
CALLGRIND_N=${CALLGRIND_N:-1000000}
CRITERION_ARGS=${CRITERION_ARGS:---warm-up-time 1 --measurement-time 5 --sample-size 50}
RENDER_CRITERION_ARGS=${RENDER_CRITERION_ARGS:---warm-up-time 0.5 --measurement-time 2 --sample-size 20}
CAPTURE_CRITERION_ARGS=${CAPTURE_CRITERION_ARGS:---warm-up-time 0.5 --measurement-time 2 --sample-size 20}
OUT=$TARGET_DIR/bench-report
mkdir -p "$OUT"

GROUPS_1T="pair_1t chain4_1t"
GROUPS_2T="pair_2t hold4_2t"
IMPLS="pool spinlock arrayqueue"
OPS="pair hold chain"

# Runs a command and prints, after it, the CPU time other processes took meanwhile (so that a
# disturbed run can be recognised).
with_cpu_accounting() {
    python3 - "$@" <<'EOF'
import os, resource, subprocess, sys, time
def busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system irq softirq
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / os.sysconf("SC_CLK_TCK")
b0, t0 = busy(), time.monotonic()
rc = subprocess.call(sys.argv[1:])
b1, t1 = busy(), time.monotonic()
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
own = ru.ru_utime + ru.ru_stime
print(f"cpu accounting: wall {t1 - t0:.1f} s; all cores busy {b1 - b0:.1f} s, of which this run "
      f"{own:.1f} s, other processes {max(0.0, b1 - b0 - own):.1f} s "
      f"(= {max(0.0, b1 - b0 - own) / (t1 - t0):.2f} of a core on average)", flush=True)
sys.exit(rc)
EOF
}

echo "== machine"
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src/mxf 2>/dev/null || echo ' (src/mxf modified)')"
    echo "nproc: $(nproc)"
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
    echo "rustc: $(rustc --version)"
    echo "valgrind: $(valgrind --version)"
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt"

if [ -z "${SKIP_CRITERION:-}" ] && [ -z "${SKIP_ALLOCATOR:-}" ]; then
    cargo bench --bench allocator --no-run
    # Other work on the machine turns the 2-thread runs into the threads taking turns: wait
    # (up to IDLE_WAIT seconds) for a 3-second window in which the cores are nearly idle.
    python3 - "${IDLE_WAIT:-120}" <<'EOF'
import os, sys, time
def busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / os.sysconf("SC_CLK_TCK")
deadline = time.monotonic() + float(sys.argv[1])
while True:
    b0 = busy(); time.sleep(3); used = (busy() - b0) / 3
    if used < 0.3 or time.monotonic() > deadline:
        print(f"idle check: other processes used {used:.2f} of a core over 3 s"
              + ("" if used < 0.3 else " (gave up waiting)"), flush=True)
        break
EOF
    echo "== criterion: cargo bench --bench allocator -- $CRITERION_ARGS"
    for g in $GROUPS_1T $GROUPS_2T; do rm -rf "${CRITERION_HOME:?}/$g"; done
    # Runs the benchmarks and tells how much CPU other processes took meanwhile: on a 2-core
    # machine anything else running skews the 2-thread figures (and, less, the others).
    # shellcheck disable=SC2086 # CRITERION_ARGS is a list of arguments
    with_cpu_accounting cargo bench --bench allocator -- $CRITERION_ARGS 2>&1 |
        tee "$OUT/criterion.log" | grep -E '^[a-z0-9_]+/[a-z]+|time:|cpu accounting|waited for a CPU' || true
    grep 'cpu accounting' "$OUT/criterion.log" >>"$OUT/machine.txt" || true
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
fi

# The allocator's callgrind counts and summary (not indented: the here-documents below).
if [ -z "${SKIP_ALLOCATOR:-}" ]; then
echo "== callgrind: Ir per pair = (Ir(N) - Ir(0)) / N, N = $CALLGRIND_N"
EXE=$(cargo bench --bench pair_count --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "pair_count" and m.get("executable"):
        print(m["executable"])')
[ -x "$EXE" ] || { echo "pair_count executable not found" >&2; exit 1; }
: >"$OUT/callgrind.txt"
for impl in $IMPLS; do
    for op in $OPS; do
        for n in 0 "$CALLGRIND_N"; do
            file=$OUT/callgrind.$impl.$op.$n
            valgrind --tool=callgrind --callgrind-out-file="$file" "$EXE" "$impl" "$op" "$n" \
                >/dev/null 2>"$file.log"
            echo "$impl $op $n $(sed -n 's/^totals: *//p' "$file")" >>"$OUT/callgrind.txt"
        done
    done
done

echo "== summary"
python3 - "$CRITERION_HOME" "$OUT/callgrind.txt" "$CALLGRIND_N" "$OUT/criterion.log" <<'EOF' | tee "$OUT/summary.md"
import json, os, sys

home, cg_file, n, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
impls = ["pool", "spinlock", "arrayqueue"]
# group: (what one iteration is, pairs per thread per iteration)
groups = {
    "pair_1t": ("1 thread: get, write a byte, put", 1),
    "chain4_1t": ("1 thread: 4 gets, one put of the 4-event chain", 4),
    "pair_2t": ("2 threads, each: get, write a byte, put (wall time)", 1),
    "hold4_2t": ("2 threads, each: 4 gets, then 4 puts (wall time)", 4),
}

def estimate(group, impl, stat):
    path = os.path.join(home, group, impl, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)[stat]["point_estimate"]
    except (OSError, KeyError, ValueError):
        return None

def fmt(x, digits=1):
    return "n/a" if x is None else f"{x:.{digits}f}"

def ratio(other, pool):
    return "n/a" if other is None or pool is None or pool == 0 else f"{other / pool:.2f}"

print("### Time per pair (ns): criterion's estimate (slope), median of samples in brackets")
print()
print("| benchmark | pool | spin lock | ArrayQueue | spin lock / pool | ArrayQueue / pool |")
print("|---|---|---|---|---|---|")
for group, (what, pairs) in groups.items():
    # What criterion prints as `time`: the slope of the linear regression when it sampled
    # linearly (the default), else the mean.
    head = {i: estimate(group, i, "slope") or estimate(group, i, "mean") for i in impls}
    median = {i: estimate(group, i, "median") for i in impls}
    per = {i: None if head[i] is None else head[i] / pairs for i in impls}
    cells = [f"{fmt(per[i])} [{fmt(None if median[i] is None else median[i] / pairs)}]" for i in impls]
    print(f"| `{group}`: {what} | " + " | ".join(cells)
          + f" | {ratio(per['spinlock'], per['pool'])} | {ratio(per['arrayqueue'], per['pool'])} |")
print()
print("Ratios above 1: the pool is faster (computed from the slope). 2-thread rows: wall time")
print("for each thread to do one pair while the other does the same (aggregate throughput is")
print("two pairs per that time).")
print()
try:
    with open(log) as f:
        lines = f.read().splitlines()
except OSError:
    lines = []
waits = [l for l in lines if "waited for a CPU" in l]
if waits:
    print("Worker threads of the 2-thread rows waiting for a CPU (near 0%: they ran at the same")
    print("time; near 50%: something else held a core and they mostly took turns):")
    print()
    for l in waits:
        print(f"- {l}")
    print()
for l in lines:
    if l.startswith("cpu accounting"):
        print(f"{l}")
        print()

ir = {}
with open(cg_file) as f:
    for line in f:
        impl, op, count, total = line.split()
        ir[(impl, op, int(count))] = int(total)
print(f"### Instructions per pair (callgrind Ir, (Ir(N) - Ir(0)) / N, N = {n})")
print()
print("| operation | pool | spin lock | ArrayQueue | spin lock / pool | ArrayQueue / pool |")
print("|---|---|---|---|---|---|")
ops = {"pair": "get, write a byte, put", "hold": "4 gets, then 4 puts", "chain": "4 gets, one put of the chain"}
for op, what in ops.items():
    per = {}
    for i in impls:
        a, b = ir.get((i, op, 0)), ir.get((i, op, n))
        per[i] = None if a is None or b is None else (b - a) / n
    print(f"| `{op}`: {what} | " + " | ".join(fmt(per[i]) for i in impls)
          + f" | {ratio(per['spinlock'], per['pool'])} | {ratio(per['arrayqueue'], per['pool'])} |")
EOF
fi # SKIP_ALLOCATOR

# ---- the render path (benches/render.rs; BENCHMARKS.md, "The render path") ----
# Single-threaded benchmarks: no idle wait, but the CPU other processes took is reported.
if [ -z "${SKIP_RENDER:-}" ]; then
RENDER_GROUPS="render_throughput host_dpc pending"
if [ -z "${SKIP_CRITERION:-}" ]; then
    cargo bench --bench render --no-run
    echo "render sources: $(git diff --quiet HEAD -- src/render src/mxf src/hw src/kernel 2>/dev/null && echo "as committed" || echo "modified")" |
        tee -a "$OUT/machine.txt"
    echo "== criterion: cargo bench --bench render -- $RENDER_CRITERION_ARGS"
    for g in $RENDER_GROUPS; do rm -rf "${CRITERION_HOME:?}/$g"; done
    # shellcheck disable=SC2086 # RENDER_CRITERION_ARGS is a list of arguments
    with_cpu_accounting cargo bench --bench render -- $RENDER_CRITERION_ARGS 2>&1 |
        tee "$OUT/render-criterion.log" |
        grep -E '^(render_throughput|host_dpc|pending)/[a-z0-9_]+|time:|cpu accounting' || true
    sed -n 's/^cpu accounting/render cpu accounting/p' "$OUT/render-criterion.log" >>"$OUT/machine.txt"
fi

echo "== render summary"
python3 - "$CRITERION_HOME" "$OUT/render-criterion.log" <<'EOF' | tee "$OUT/render-summary.md"
import json, os, re, sys

home, log = sys.argv[1], sys.argv[2]

def estimate(*parts):
    path = os.path.join(home, *parts, "new", "estimates.json")
    try:
        with open(path) as f:
            e = json.load(f)
    except (OSError, ValueError):
        return None, None
    # What criterion prints as `time`: the slope when it sampled linearly, else the mean.
    head = (e.get("slope") or e.get("mean") or {}).get("point_estimate")
    median = (e.get("median") or {}).get("point_estimate")
    return head, median

def fmt(x, digits=1):
    return "n/a" if x is None else f"{x:,.{digits}f}"

try:
    with open(log) as f:
        lines = f.read().splitlines()
except OSError:
    lines = []
runs, walks = {}, {}
for l in lines:
    m = re.match(r"render_throughput/(\w+): .*?([\d.]+) DPC runs per PutMessage", l)
    if m:
        runs[m.group(1)] = float(m.group(2))
    m = re.match(r"pending/(\d+): .* passed (\d+) events on average \(([\d.]+) n\)", l)
    if m:
        walks[int(m.group(1))] = (int(m.group(2)), float(m.group(3)))

print("### Render throughput: PutMessage -> inbox -> sequencer -> wire -> loopback -> allocator")
print()
print("| benchmark | events per PutMessage | byte budget per DPC run | DPC runs per PutMessage | ns per event [median] | events/s |")
print("|---|---|---|---|---|---|")
cases = [("chain1", 1, "unbounded"), ("chain64", 64, "unbounded"), ("chain64_budget32", 64, "32 (default)")]
for name, k, budget in cases:
    head, median = estimate("render_throughput", name)
    per = None if head is None else head / k
    med = None if median is None else median / k
    rate = "n/a" if not per else f"{1e9 / per / 1e6:.2f} M"
    print(f"| `{name}` | {k} | {budget} | {fmt(runs.get(name), 2)} | {fmt(per)} [{fmt(med)}] | {rate} |")
head, median = estimate("host_dpc", "arm_and_fire")
print(f"| `host_dpc/arm_and_fire`: the host kernel's timer arm + fire alone | | | 1 | {fmt(head)} [{fmt(median)}] | |")
print()
print("### One push + one pop of the earliest with n events pending (ns per event)")
print()
print("| n pending | sequencer (heap) [median] | sorted list [median] | sorted list / sequencer | list: events passed per push |")
print("|---|---|---|---|---|")
for n in (10, 1000, 100000):
    s, sm = estimate("pending", "sequencer", str(n))
    l, lm = estimate("pending", "sorted_list", str(n))
    ratio = "n/a" if s is None or l is None or s == 0 else f"{l / s:,.2f}"
    walk = walks.get(n)
    walk = "n/a" if walk is None else f"{walk[0]:,} ({walk[1]:.2f} n)"
    print(f"| {n:,} | {fmt(s)} [{fmt(sm)}] | {fmt(l)} [{fmt(lm)}] | {ratio} | {walk} |")
print()
print("Ratio above 1: the sequencer is faster (computed from the slope).")
print()
for l in lines:
    if l.startswith("cpu accounting"):
        print(l)
        print()
EOF
fi # SKIP_RENDER

# ---- the capture path (benches/capture.rs; BENCHMARKS.md, "The capture path") ----
# Single-threaded benchmarks: no idle wait, but the CPU other processes took is reported.
if [ -z "${SKIP_CAPTURE:-}" ]; then
if [ -z "${SKIP_CRITERION:-}" ]; then
    cargo bench --bench capture --no-run
    echo "capture sources: $(git diff --quiet HEAD -- src/capture src/midi src/mxf src/kernel 2>/dev/null && echo "as committed" || echo "modified")" |
        tee -a "$OUT/machine.txt"
    echo "== criterion: cargo bench --bench capture -- $CAPTURE_CRITERION_ARGS"
    rm -rf "${CRITERION_HOME:?}/capture"
    # shellcheck disable=SC2086 # CAPTURE_CRITERION_ARGS is a list of arguments
    with_cpu_accounting cargo bench --bench capture -- $CAPTURE_CRITERION_ARGS 2>&1 |
        tee "$OUT/capture-criterion.log" |
        grep -E '^capture[/ ]|time:|thrpt:|cpu accounting' || true
    sed -n 's/^cpu accounting/capture cpu accounting/p' "$OUT/capture-criterion.log" >>"$OUT/machine.txt"
    # A failed check panics the benchmark: no summary of stale figures then.
    if grep -qE 'panicked at|error: bench failed' "$OUT/capture-criterion.log"; then
        echo "capture benchmarks failed: see $OUT/capture-criterion.log" >&2
        exit 1
    fi
fi

echo "== capture summary"
python3 - "$CRITERION_HOME" "$OUT/capture-criterion.log" <<'EOF' | tee "$OUT/capture-summary.md"
import json, os, re, sys

home, log = sys.argv[1], sys.argv[2]
WIRE = 3125  # bytes/s on a MIDI wire: 31 250 baud, 10 bits a byte

def load(name, what):
    try:
        with open(os.path.join(home, "capture", name, "new", what)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def per_byte(name):
    """ns per byte from criterion's slope (else mean), and from the median."""
    e, b = load(name, "estimates.json"), load(name, "benchmark.json")
    n = ((b or {}).get("throughput") or {}).get("Bytes")
    if not e or not n:
        return None, None
    # What criterion prints as `time`: the slope when it sampled linearly, else the mean.
    head = (e.get("slope") or e.get("mean") or {}).get("point_estimate")
    median = (e.get("median") or {}).get("point_estimate")
    return (None if head is None else head / n), (None if median is None else median / n)

def fmt(x, digits=1):
    return "n/a" if x is None else f"{x:,.{digits}f}"

try:
    with open(log) as f:
        lines = f.read().splitlines()
except OSError:
    lines = []

rows = [
    ("parser", "`midi::Parser::push` alone (reference)", "any"),
    ("isr_ring_push", "ISR: `CaptureRing::push`, 256 bytes per interrupt", "DIRQL"),
    ("isr_intake_receive", "ISR: `Intake::receive` (clock, push, Notify), 256 per interrupt", "DIRQL"),
    ("dpc_service", "DPC: PutMessage(NULL) with 256 bytes waiting: ring -> parser -> events -> sink -> allocator", "DISPATCH"),
    ("path_burst256", "both: 256 bytes pushed, one service, and again", "DIRQL, DISPATCH"),
    ("path_per_byte", "both: one byte pushed, one service, and again", "DIRQL, DISPATCH"),
]
est = {name: per_byte(name) for name, _, _ in rows}
print("### Capture: bytes through ring -> parser -> events")
print()
print("| benchmark | what is timed | IRQL | ns per byte [median] | bytes/s | x wire rate | CPU at the wire rate |")
print("|---|---|---|---|---|---|---|")
for name, what, irql in rows:
    ns, med = est[name]
    rate = "n/a" if not ns else f"{1e9 / ns / 1e6:.1f} M"
    times = "n/a" if not ns else f"{1e9 / ns / WIRE:,.0f}"
    cpu = "n/a" if ns is None else f"{ns * WIRE / 1e3:.1f} us/s ({ns * WIRE / 1e7:.3f}%)"
    print(f"| `{name}` | {what} | {irql} | {fmt(ns)} [{fmt(med)}] | {rate} | {times} | {cpu} |")
a, b, c = est["isr_ring_push"][0], est["dpc_service"][0], est["path_burst256"][0]
if None not in (a, b, c):
    print(f"| (sum) | `isr_ring_push` + `dpc_service` | | {a + b:.1f} | | | `path_burst256`: {c:.1f} |")
print()
print("ns per byte: criterion's slope estimate per pass divided by the bytes in a pass (median of")
print(f"samples in brackets). x wire rate: bytes/s over the MIDI wire's {WIRE:,} bytes/s. CPU at the")
print("wire rate: CPU time per second of input arriving back to back, and its share of one core.")
print()
for l in lines:
    if l.startswith("capture stream:"):
        print("Stream:" + l[len("capture stream:"):])
        print()
mix = [re.match(r"capture mix: (\S+) (\d+) bytes ([\d.]+)% (\d+) messages", l) for l in lines]
mix = [m for m in mix if m]
if mix:
    print("| kind of byte | bytes per pass | share of bytes | messages per pass |")
    print("|---|---|---|---|")
    for m in mix:
        print(f"| {m.group(1)} | {int(m.group(2)):,} | {m.group(3)}% | {int(m.group(4)):,} |")
    print()
for l in lines:
    if l.startswith("capture timer:") or re.match(r"capture/\w+: checked", l):
        print(f"- {l}")
print()
for l in lines:
    if l.startswith("cpu accounting"):
        print(l)
        print()
EOF
fi # SKIP_CAPTURE

# ---------------------------------------------------------------------------------------------
# Part 4: the whole chain, the native build against the cross-built image (host/benches/chain.rs).
if [ -z "${SKIP_CHAIN:-}" ]; then
CHAIN_CRITERION_ARGS=${CHAIN_CRITERION_ARGS:---warm-up-time 1 --measurement-time 5}
echo
echo "== the whole chain: native build vs image (criterion: chain) =="
[ -f target/cross/dmus_miniport.sys ] || echo "(no target/cross/dmus_miniport.sys: native only; bash tools/cross-build.sh)"
cargo bench -q -p dmus-host --bench chain --config 'profile.release.panic="unwind"' -- \
  $CHAIN_CRITERION_ARGS 2>&1 | tee "$OUT/chain.log" | grep -E '^chain|time:|thrpt:|chain bench'
python3 - "$OUT/chain.log" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
est = {}
for m in re.finditer(r"^(chain/\S+)\s+time:\s+\[\S+ \S+ (\S+) (\S+)", text, re.M):
    v, unit = float(m.group(2)), m.group(3)
    est[m.group(1)] = v * {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1, "s": 1e3}[unit]
print()
print("| device | native, ms per demo run | image, ms per demo run | image / native |")
print("|---|---|---|---|")
for d in ("loopback", "mpu401"):
    n, i = est.get(f"chain/native/{d}"), est.get(f"chain/image/{d}")
    ratio = f"{i / n:.2f}" if n and i else "n/a"
    print(f"| {d} | {n if n is None else f'{n:.3f}'} | {i if i is None else f'{i:.3f}'} | {ratio} |")
PY
fi # SKIP_CHAIN
echo
echo "(logs and raw counts: $OUT)"
