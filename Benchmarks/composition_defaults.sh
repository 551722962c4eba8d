#!/bin/sh
# Composition rules and samplers with a trained network, against the closed-form posterior: gaussian_linear
# (θ ~ N(0, 0.1 I), x = θ + N(0, 0.1 I), 10 dimensions), J i.i.d. observations of one θ, whose posterior is
# N(Σx/(J+1), 0.1/(J+1) I). For each J and each configuration, over THETAS parameter draws: the largest |mean
# error| in posterior sd over the ten dimensions (worst θ, and the mean over θ of each θ's worst), the range of sd
# ratios (drawn ÷ exact) over all θ and dimensions, network evaluations and seconds per θ. Regenerates the
# "Choosing the composition defaults" tables of BENCHMARKS.md:
#
#   sh Benchmarks/composition_defaults.sh [SIMULATIONS] [J LIST] [DRAWS]
#
# defaults: 20000, "2 20", 1000. Environment:
#   MODEL=dir      use this trained gaussian_linear model (or ensemble) instead of training one (SIMULATIONS unused)
#   THETAS=n       parameter draws per J (default 1)
#   CONFIGS="..."  configurations, each "rule:sampler[:extra sample options, comma-separated]", "default" for
#                  today's defaults (no composition options at all); default: the four of the first table
# Needs python3 with numpy and a release diffsbi (DIFFSBI=path, default .build/release/diffsbi).
set -eu
cd "$(dirname "$0")/.."
D=${DIFFSBI:-.build/release/diffsbi}
n=${1:-20000}
js=${2:-"2 20"}
draws=${3:-1000}
thetas=${THETAS:-1}
configs=${CONFIGS:-"direct:dpm-solver-2m gauss:dpm-solver-2m auto-gauss:dpm-solver-2m direct:two-step-adaptive"}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
if [ -n "${MODEL:-}" ]; then M=$MODEL; else M=$T/gl; $D train --task gaussian_linear --simulations "$n" --out "$M" --quiet; fi
echo "| J | configuration | max \|mean error\| / sd (worst θ; mean over θ) | sd ratio | evaluations | seconds |"
echo "|---|---|---|---|---|---|"
for J in $js; do
  python3 - "$T" "$J" "$thetas" <<'PY'
import numpy as np, sys
t, J, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(7)
for i in range(k):
    theta = np.sqrt(0.1) * rng.standard_normal(10)
    x = theta + np.sqrt(0.1) * rng.standard_normal((J, 10))
    np.save(f"{t}/obs{J}_{i}.npy", x)
    np.save(f"{t}/exact{J}_{i}.npy", np.stack([x.sum(0) / (J + 1), np.full(10, np.sqrt(0.1 / (J + 1)))]))
PY
  for cfg in $configs; do
    if [ "$cfg" = default ]; then opts=""; else
      rule=${cfg%%:*}; rest=${cfg#*:}; sampler=${rest%%:*}; extra=""
      [ "$rest" != "$sampler" ] && extra=$(echo "${rest#*:}" | tr ',' ' ')
      opts="--composition $rule --sampler $sampler $extra"
    fi
    i=0
    while [ $i -lt "$thetas" ]; do
      # shellcheck disable=SC2086
      $D sample --model "$M" --observation "$T/obs${J}_$i.npy" --compose $opts \
        --count "$draws" --seed 1 --out "$T/d$i.npy" --json --quiet > "$T/s$i.json"
      i=$((i + 1))
    done
    python3 - "$T" "$J" "$thetas" "$cfg" <<'PY'
import json, numpy as np, sys
t, J, k, cfg = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
worst, ratios, ev, sec = [], [], [], []
for i in range(k):
    d = np.load(f"{t}/d{i}.npy"); e = np.load(f"{t}/exact{J}_{i}.npy"); s = json.load(open(f"{t}/s{i}.json"))
    worst.append((np.abs(d.mean(0) - e[0]) / e[1]).max()); ratios.extend(d.std(0) / e[1])
    ev.append(s["evaluations"]); sec.append(s["sample_seconds"])
print(f"| {J} | {cfg} | {max(worst):.2f}; {np.mean(worst):.2f} | {min(ratios):.2f}–{max(ratios):.2f} "
      f"| {np.mean(ev):.0f} | {np.mean(sec):.1f} |")
PY
  done
done
