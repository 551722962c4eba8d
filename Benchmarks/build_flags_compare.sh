#!/bin/sh
# Training and sampling speed of several diffsbi-bench binaries, run in turn (round robin, so that a slow spell of
# a shared machine hits all of them), as medians over the rounds. Regenerates the "Plain build against the
# Makefile's build" table of BENCHMARKS.md:
#
#   sh Benchmarks/build_flags_compare.sh [ROUNDS] NAME=PATH [NAME=PATH ...]
#
# e.g. `sh Benchmarks/build_flags_compare.sh 3 plain=.build-plain/release/diffsbi-bench
# make=.build/release/diffsbi-bench`. Per round and binary: `diffsbi-bench train --batches 32,128,512 --threads 1
# --thread-clock --quick` (training samples/s and batch-10,000 inference samples/s, one thread, thread CPU clock)
# and `diffsbi-bench sbibm` on two_moons (1 epoch on 10^4 simulations, then 1,000 draws for observation 1 with the
# default sampler, one thread; sampling seconds are wall clock). SUMMARIES=1 adds `diffsbi-bench train
# --summaries-only --summary-batches 32,128 --threads 1 --thread-clock --quick` (summary networks trained with the
# TimeMLP). Needs python3. OUT=dir keeps the raw outputs there.
set -eu
rounds=${1:-3}
shift
[ $# -gt 0 ] || { echo "usage: $0 [ROUNDS] NAME=PATH ..."; exit 2; }
if [ -n "${OUT:-}" ]; then
  T=$OUT
  mkdir -p "$T"
else
  T=$(mktemp -d)
  trap 'rm -rf "$T"' EXIT
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(date -u +%Y-%m-%d)"
r=1
while [ "$r" -le "$rounds" ]; do
  for spec in "$@"; do
    name=${spec%%=*}
    bin=${spec#*=}
    "$bin" train --batches 32,128,512 --threads 1 --thread-clock --quick > "$T/train-$name-$r.txt" 2>/dev/null
    if [ -n "${SUMMARIES:-}" ]; then
      "$bin" train --summaries-only --summary-batches 32,128 --threads 1 --thread-clock --quick \
        > "$T/summary-$name-$r.txt" 2>/dev/null
    fi
    (cd "$T" && "$bin" sbibm --seed 1 --tasks two_moons --simulations 10000 --epochs 1 --observations 1 \
      --samples 1000 --threads 1 --quiet > "$T/sample-$name-$r.txt" 2>/dev/null)
  done
  r=$((r + 1))
done
names=""
for spec in "$@"; do names="$names ${spec%%=*}"; done
python3 - "$T" "$rounds" $names <<'PY'
import re, statistics, sys
t, rounds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def parse(name, r):
    train, infer, sample = {}, {}, None
    for line in open(f"{t}/train-{name}-{r}.txt"):
        c = [x.strip() for x in line.strip().strip("|").split("|")]
        if len(c) == 8 and re.fullmatch(r"\d+/\d+", c[0]) and c[4].isdigit():
            train[(c[0], int(c[4]))] = float(c[5])
        elif len(c) == 3 and re.fullmatch(r"\d+/\d+", c[0]) and c[1] == "1":
            infer[c[0]] = float(c[2])
    for line in open(f"{t}/sample-{name}-{r}.txt"):
        c = [x.strip() for x in line.strip().strip("|").split("|")]
        if len(c) == 8 and c[0] == "two_moons":
            sample = float(c[5])
    try:
        for line in open(f"{t}/summary-{name}-{r}.txt"):
            c = [x.strip() for x in line.strip().strip("|").split("|")]
            if len(c) == 6 and c[2] == "1" and c[3].isdigit():
                train[(c[0], int(c[3]))] = float(c[4])
    except FileNotFoundError:
        pass
    return train, infer, sample
runs = {n: [parse(n, r) for r in range(1, rounds + 1)] for n in names}
keys = sorted(runs[names[0]][0][0], key=lambda k: (not k[0][0].isdigit(), k[0] if not k[0][0].isdigit() else int(k[0].split("/")[0]), k[1]))
print(f"medians of {rounds} rounds")
print("| measurement | " + " | ".join(names) + " |")
print("|---" * (len(names) + 1) + "|")
for k in keys:
    what = f"θ/x {k[0]}" if k[0][0].isdigit() else k[0]
    print(f"| train samples/s, {what}, batch {k[1]} | " +
          " | ".join(f"{statistics.median(run[0][k] for run in runs[n]):,.0f}" for n in names) + " |")
for k in sorted(runs[names[0]][0][1], key=lambda k: int(k.split("/")[0])):
    print(f"| inference samples/s, θ/x {k}, batch 10,000 | " +
          " | ".join(f"{statistics.median(run[1][k] for run in runs[n]):,.0f}" for n in names) + " |")
print("| sampling s, two_moons, 1,000 draws (wall) | " +
      " | ".join(f"{statistics.median(run[2] for run in runs[n]):.2f}" for n in names) + " |")
PY
