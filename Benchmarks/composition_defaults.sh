#!/bin/sh
# Composition rules and samplers with a trained network, against the closed-form posterior: gaussian_linear
# (θ ~ N(0, 0.1 I), x = θ + N(0, 0.1 I), 10 dimensions), J i.i.d. observations of one θ, whose posterior is
# N(Σx/(J+1), 0.1/(J+1) I). For each J and each (rule, sampler): the largest |mean error| in posterior sd over the
# ten dimensions, the range of sd ratios (drawn ÷ exact), network evaluations and seconds. Regenerates the "Choosing
# the composition defaults" table of BENCHMARKS.md:
#
#   sh Benchmarks/composition_defaults.sh [SIMULATIONS] [J LIST] [DRAWS]
#
# defaults: 20000, "2 20", 1000. Needs python3 with numpy and a release diffsbi (DIFFSBI=path, default
# .build/release/diffsbi).
set -eu
cd "$(dirname "$0")/.."
D=${DIFFSBI:-.build/release/diffsbi}
n=${1:-20000}
js=${2:-"2 20"}
draws=${3:-1000}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
$D train --task gaussian_linear --simulations "$n" --out "$T/gl" --quiet
echo "| J | rule | sampler | max \|mean error\| / sd | sd ratio | evaluations | seconds |"
echo "|---|---|---|---|---|---|---|"
for J in $js; do
  python3 - "$T" "$J" <<'PY'
import numpy as np, sys
t, J = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(7)
theta = np.sqrt(0.1) * rng.standard_normal(10)
x = theta + np.sqrt(0.1) * rng.standard_normal((J, 10))
np.save(f"{t}/obs{J}.npy", x)
np.save(f"{t}/exact{J}.npy", np.stack([x.sum(0) / (J + 1), np.full(10, np.sqrt(0.1 / (J + 1)))]))
PY
  for cfg in "direct dpm-solver-2m" "gauss dpm-solver-2m" "auto-gauss dpm-solver-2m" "direct two-step-adaptive"; do
    set -- $cfg
    $D sample --model "$T/gl" --observation "$T/obs$J.npy" --compose --composition "$1" --sampler "$2" \
      --count "$draws" --seed 1 --out "$T/d.npy" --json --quiet > "$T/s.json"
    python3 - "$T" "$J" "$1" "$2" <<'PY'
import json, numpy as np, sys
t, J, rule, sampler = sys.argv[1:5]
d = np.load(f"{t}/d.npy"); e = np.load(f"{t}/exact{J}.npy"); s = json.load(open(f"{t}/s.json"))
err = np.abs(d.mean(0) - e[0]) / e[1]; ratio = d.std(0) / e[1]
print(f"| {J} | {rule} | {sampler} | {err.max():.2f} | {ratio.min():.2f}–{ratio.max():.2f} | {s['evaluations']} | {s['sample_seconds']:.1f} |")
PY
  done
done
