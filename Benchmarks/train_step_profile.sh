#!/bin/sh
# Where a training step goes: `diffsbi train` on 10^4 two_moons simulations under `perf record`, at several batch
# sizes and thread counts, with the samples grouped by what the code does. Regenerates the "Where a training step
# goes" table of BENCHMARKS.md:
#
#   sh Benchmarks/train_step_profile.sh [BATCHES] [THREADS] [EPOCHS]
#
# defaults: "32 64 128", "1 2", 5 epochs per run. Needs perf (Debian: linux-perf), python3 and a release diffsbi
# (DIFFSBI=path, default .build/release/diffsbi). Milliseconds per step are wall-clock over the whole run (start-up
# and file reading included, about 0.1 s), so they are slightly above the in-loop step time.
set -eu
cd "$(dirname "$0")/.."
D=${DIFFSBI:-.build/release/diffsbi}
batches=${1:-"32 64 128"}
threads=${2:-"1 2"}
epochs=${3:-5}
command -v perf > /dev/null || { echo "perf not found (apt-get install linux-perf)"; exit 3; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
$D simulate --task two_moons --count 10000 --seed 1 --out "$T/sims.npz" --quiet
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(date -u +%Y-%m-%d)"
echo
for t in $threads; do
  for b in $batches; do
    start=$(python3 -c 'import time; print(time.time())')
    perf record -q -F 2000 -o "$T/perf-$t-$b.data" -- $D train --data "$T/sims.npz" --task two_moons --epochs "$epochs" \
      --batch-size "$b" --threads "$t" --validation-fraction 0 --out "$T/m" --quiet > /dev/null 2>&1
    python3 -c "import time; print('%.3f' % (time.time() - $start))" > "$T/secs-$t-$b"
    perf report -q -i "$T/perf-$t-$b.data" --no-children --sort symbol --stdio 2> /dev/null > "$T/report-$t-$b.txt"
  done
done
python3 - "$T" "$batches" "$threads" "$epochs" <<'PY'
import math, re, sys
t, batches, threads, epochs = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), int(sys.argv[4])
# (category, patterns matched against the symbol, first match wins)
categories = [
    ("GEMM arithmetic (OpenBLAS kernel, small-product kernels)", [r"sgemm_kernel", r"sgemm_small_kernel",
                                                                  r"small_bcast", r"small_dot", r"dsk_small_sgemm"]),
    ("GEMM packing and scaling", [r"sgemm_.*copy", r"sgemm_beta", r"cblas_sgemm"]),
    ("optimizer update (AdamW, fused clip and EMA)", [r"AdamOptimizer.*kernel", r"dsk_adam", r"PowerEMA"]),
    ("gradient reduction and norm", [r"sumOfSquares", r"sum_of_squares", r"Kernels.*axpy", r"Kernels.*scale"]),
    ("zeroing gradients (memset)", [r"memset"]),
    ("elementwise network passes (Mish, LayerNorm, FiLM, dropout, embedding)",
     [r"Activation", r"Mish", r"LayerNorm", r"BlockRowPass", r"Dropout", r"ColumnSums", r"Kernels.*mul",
      r"FourierEmbedding", r"__sin", r"__cos", r"TimeMLP", r"dsk_block_row", r"dsk_activation", r"dsk_layernorm"]),
    ("data pipeline and objective (batches, transforms, noise)",
     [r"Standardizer", r"ConstraintTransform", r"TrainingSource", r"Xoshiro", r"Objective", r"TrainingLoss",
      r"Matrix", r"memmove", r"memcpy", r"__ieee754", r"__exp", r"__log"]),
    ("waiting between parallel phases (worker pool spin, its caller's wait)", [r"worker_main", r"dwp_run"]),
    ("thread scheduling, waits and yields (kernel, libc)", [r"^\[k\]", r"sched_yield", r"pthread", r"futex",
                                                         r"dispatch", r"_dispatch"]),
    ("allocation and reference counting", [r"malloc", r"free", r"swift_retain", r"swift_release", r"swift_alloc",
                                           r"swift_bridgeObject", r"_int_", r"swift_dealloc"]),
]
def classify(sym):
    for name, pats in categories:
        if any(re.search(p, sym) for p in pats):
            return name
    return "other (start-up, file reading, bookkeeping)"
cols = [(th, b) for th in threads for b in batches]
table = {}
ms = {}
for th, b in cols:
    shares = {}
    for line in open(f"{t}/report-{th}-{b}.txt"):
        m = re.match(r"\s*([0-9.]+)%\s+(\[[.k]\])\s+(.*)$", line)
        if not m:
            continue
        sym = (m.group(2) if m.group(2) == "[k]" else "") + m.group(3).strip()
        c = classify(sym)
        shares[c] = shares.get(c, 0) + float(m.group(1))
    table[(th, b)] = shares
    secs = float(open(f"{t}/secs-{th}-{b}").read())
    steps = epochs * (10000 // int(b))  # offline: full batches over the 10^4 rows per epoch
    ms[(th, b)] = 1000 * secs / steps
names = [c[0] for c in categories] + ["other (start-up, file reading, bookkeeping)"]
print("| share of samples | " + " | ".join(f"{th} thr, batch {b}" for th, b in cols) + " |")
print("|---|" + "---|" * len(cols))
print("| **ms per step (wall)** | " + " | ".join("%.2f" % ms[k] for k in cols) + " |")
for n in names:
    print(f"| {n} | " + " | ".join("%.1f%%" % table[k].get(n, 0) for k in cols) + " |")
PY
