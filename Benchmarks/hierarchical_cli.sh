#!/bin/sh
# The hierarchical drift-diffusion benchmark (BENCHMARKS.md, "Hierarchical drift-diffusion") through the command
# line instead of the library (Sources/diffsbi-bench/HierarchicalBench.swift): `simulate --hierarchical` draws the
# single-subject training rows, `train --hierarchical` trains the global and local networks with the benchmark's
# settings, and for each number of subjects J, DATASETS data sets of J subjects × 30 trials are simulated and
# sampled with `sample --hierarchical` (direct composition, d0 = 1, two-step adaptive). Data set i has the same
# global parameters for every J (seed FIRST_SEED + i), as the library's 8 truths are shared by all J. The draws are
# scored as the library scores them (normalizedRMSE and calibrationError of
# Sources/Diagnostics/PosteriorMetrics.swift, averaged over the 7 global / 3 local parameters; local metrics pool
# all subjects of all data sets); seconds are the sampling time of the DATASETS `sample` calls (their --json
# sample_seconds).
#
#   sh Benchmarks/hierarchical_cli.sh [SUBJECTS] [DATASETS] [DRAWS] [FIRST_SEED]
#
# defaults: "2 10 50 100", 8, 50, 10. The table goes to stdout, the NRMSE per parameter to stderr. Needs python3
# with numpy and a release diffsbi (DIFFSBI=path, default .build/release/diffsbi); THREADS (default 1, as the
# library rows) sets --threads.
set -eu
cd "$(dirname "$0")/.."
D=${DIFFSBI:-.build/release/diffsbi}
T=$(mktemp -d)
subjects=${1:-"2 10 50 100"}
datasets=${2:-8}
draws=${3:-50}
first=${4:-10}
threads=${THREADS:-1}
now() { python3 -c 'import time; print("%.3f" % time.time())'; }
since() { python3 -c "print('%.0f' % ($(now) - $1))"; }

# The task's hyperprior (Sources/Tasks/DriftDiffusion.swift, HierarchicalDriftDiffusion.globalPrior).
echo '{"type": "gaussian", "mean": [0.5, 0, -1, -1, -3, -1, 0], "std": [0.3, 0.05, 0.3, 1, 1, 0.3, 1]}' > "$T/hyper.json"

t0=$(now)
$D simulate --hierarchical --task hierarchical_drift_diffusion --count 20000 --seed 1 --out "$T/train.npz" \
  --threads "$threads" --quiet
sim=$(since "$t0")
t0=$(now)
$D train --hierarchical --data "$T/train.npz" --prior "$T/hyper.json" --summary none --widths 64,64,64 --dropout 0 \
  --epochs 30 --validation-fraction 0 --batch-size 128 --learning-rate 0.001 --optimizer adamw --seed 4 \
  --threads "$threads" \
  --out "$T/model" --quiet
train=$(since "$t0")
echo "simulation ${sim} s, training ${train} s (both networks), threads $threads"
echo
echo "| J | global NRMSE | global calibration error | local NRMSE | local calibration error | global solver steps | seconds |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for j in $subjects; do
  steps=0
  seconds=0
  i=1
  while [ "$i" -le "$datasets" ]; do
    $D simulate --hierarchical --task hierarchical_drift_diffusion --groups "$j" --seed $((first + i)) \
      --out "$T/data-$j-$i.npz" --threads "$threads" --quiet
    s=$($D sample --hierarchical --model "$T/model" --observation "$T/data-$j-$i.npz" --count "$draws" \
      --composition direct --damping 1,1 --sampler two-step-adaptive --seed "$i" --threads "$threads" \
      --out "$T/draws-$j-$i.npz" --json --quiet | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["steps"], d["sample_seconds"])')
    steps=$((steps + ${s% *}))
    seconds=$(python3 -c "print($seconds + ${s#* })")
    i=$((i + 1))
  done
  python3 - "$T" "$j" "$datasets" "$steps" "$seconds" <<'PY'
import sys, numpy as np
t, j, n, steps, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]

def nrmse(est, tgt):  # est [N, S, d], tgt [N, d]: median over draws of the RMSE over data sets, / the prior spread
    rmse = np.sqrt(np.mean((est - tgt[:, None, :]) ** 2, axis=0))  # [S, d]
    norm = np.sqrt(2 * len(tgt) / max(len(tgt) - 1, 1) * np.var(tgt, axis=0))
    return np.median(rmse, axis=0) / norm

def calibration(est, tgt, resolution=20):  # median over α of |coverage of the central α interval − α|
    alphas = 0.005 + 0.99 * np.arange(resolution) / (resolution - 1)
    lo = np.quantile(est, (1 - alphas) / 2, axis=1)  # [A, N, d]
    hi = np.quantile(est, 1 - (1 - alphas) / 2, axis=1)
    covered = ((lo <= tgt) & (tgt <= hi)).mean(axis=1)  # [A, d]
    return np.median(np.abs(covered - alphas[:, None]), axis=0)

g_est, g_tgt, l_est, l_tgt = [], [], [], []
for i in range(1, n + 1):
    data, draws = np.load(f"{t}/data-{j}-{i}.npz"), np.load(f"{t}/draws-{j}-{i}.npz")
    g_est.append(draws["theta_global"]); g_tgt.append(data["theta_global"][0])
    local = draws["theta_local"]  # [S, J, 3]
    for k in range(j):
        l_est.append(local[:, k, :]); l_tgt.append(data["theta_local"][k])
g_est, g_tgt, l_est, l_tgt = map(np.array, (g_est, g_tgt, l_est, l_tgt))
fmt = lambda v: "[" + ", ".join("%.2f" % a for a in v) + "]"
print("J = %d: global NRMSE per parameter %s, local %s" % (j, fmt(nrmse(g_est, g_tgt)), fmt(nrmse(l_est, l_tgt))),
      file=sys.stderr)
print("| %d | %.3f | %.3f | %.3f | %.3f | %.0f | %s |" % (
    j, nrmse(g_est, g_tgt).mean(), calibration(g_est, g_tgt).mean(), nrmse(l_est, l_tgt).mean(),
    calibration(l_est, l_tgt).mean(), steps / n, "%.0f" % float(seconds)))
PY
done
rm -rf "$T"
