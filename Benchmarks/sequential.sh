#!/bin/sh
# Sequential inference with truncated proposals against amortized training at the same budget, and the cost and
# accuracy of `diffsbi log-prob` (Documentation/Methods.md §5.4–5.5). Regenerates the "Sequential inference" section
# of BENCHMARKS.md:
#
#   sh Benchmarks/sequential.sh [logprob|rounds|all] [TASKS] [BUDGETS] [OBSERVATIONS]
#
# defaults: all, "two_moons slcp", "1000 10000", "1 2 3". Needs python3 with numpy and a release diffsbi
# (DIFFSBI=path, default .build/release/diffsbi).
set -eu
cd "$(dirname "$0")/.."
D=${DIFFSBI:-.build/release/diffsbi}
T=$(mktemp -d)
what=${1:-all}
tasks=${2:-"two_moons slcp"}
budgets=${3:-"1000 10000"}
observations=${4:-"1 2 3"}
json() { python3 -c "import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print($1)"; }

if [ "$what" = logprob ] || [ "$what" = all ]; then
  echo "## log q(θ | x) against the exact Gaussian posterior, 1000 θ drawn from it"
  # 2-D: θ ~ N(0, I), x = θ + 0.1 ε (Examples/simulators/gaussian_noise.py): posterior N(x/1.01, (0.01/1.01) I).
  # LOGPROB_DIMS="2 10" (default) chooses the cases.
  dims=" ${LOGPROB_DIMS:-2 10} "
  echo '{"type": "gaussian", "mean": [0, 0], "std": [1, 1]}' > "$T/prior2.json"
  case "$dims" in *" 2 "*)
    $D train --simulator "python3 Examples/simulators/gaussian_noise.py" --prior "$T/prior2.json" --simulations 20000 \
      --epochs 50 --out "$T/g2" --quiet ;;
  esac
  # 10-D: gaussian_linear, θ ~ N(0, 0.1 I), x = θ + N(0, 0.1 I): posterior N(x/2, 0.05 I).
  case "$dims" in *" 10 "*) $D train --task gaussian_linear --simulations 20000 --epochs 50 --out "$T/g10" --quiet ;; esac
  for case in "g2 2 1.01 0.00990099" "g10 10 2 0.05"; do
    set -- $case
    case "$dims" in *" $2 "*) ;; *) continue ;; esac
    python3 - "$T" "$1" "$2" "$3" "$4" <<'PY'
import sys, numpy as np
t, name, d, div, var = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
x = np.full((1, d), 0.3)
rng = np.random.default_rng(0)
theta = x / div + np.sqrt(var) * rng.standard_normal((1000, d))
np.save(f"{t}/{name}-x.npy", x); np.save(f"{t}/{name}-theta.npy", theta)
lp = -0.5 * np.sum((theta - x / div) ** 2, 1) / var - 0.5 * d * np.log(2 * np.pi * var)
np.save(f"{t}/{name}-exact.npy", lp)
PY
    probes_list="0 8"
    [ "$2" -gt 2 ] && probes_list=0  # above 2 parameters the exact trace is as cheap as 8 probes
    for probes in $probes_list; do
      $D log-prob --model "$T/$1" --observation "$T/$1-x.npy" --theta "$T/$1-theta.npy" --out "$T/$1-lp.npy" \
        --probes $probes --json --quiet > "$T/$1-lp.json"
      secs=$(json '"%.1f" % d["seconds"]' < "$T/$1-lp.json")
      python3 -c "
import numpy as np; a=np.load('$T/$1-lp.npy'); b=np.load('$T/$1-exact.npy')
print('d = $2, %s: %s s per 1000 θ, mean |error| %.3f nats, mean error %+.3f' % ('exact trace' if $probes == 0 else 'Hutchinson $probes probes', '$secs', np.mean(np.abs(a-b)), np.mean(a-b)))"
    done
  done
fi

if [ "$what" = rounds ] || [ "$what" = all ]; then
  echo "## C2ST (10,000 DPM-Solver++(2M) draws) per observation: amortized | sequential, same total budget"
  for task in $tasks; do
    for n in $budgets; do
      rounds=$([ "$n" -le 1000 ] && echo 2 || echo 4)
      start=$(date +%s)
      $D train --task "$task" --simulations "$n" --out "$T/a-$task-$n" --quiet
      amortized_train=$(( $(date +%s) - start ))
      line="$task, $n simulations: amortized ${amortized_train} s:"
      seqline="  sequential ($rounds rounds):"
      for k in $observations; do
        o=data/sbibm/$task/observation_$k
        $D sample --model "$T/a-$task-$n" --observation $o/observation.csv --count 10000 --sampler dpm-solver-2m \
          --out "$T/a.npy" --quiet --seed $k
        a=$($D c2st $o/reference_posterior_samples.npy "$T/a.npy" --json --quiet | json '"%.3f" % d["c2st"]')
        start=$(date +%s)
        $D train --task "$task" --simulations "$n" --observation $o/observation.csv --rounds $rounds \
          --out "$T/s-$task-$n-$k" --quiet
        secs=$(( $(date +%s) - start ))
        $D sample --model "$T/s-$task-$n-$k" --observation $o/observation.csv --count 10000 --sampler dpm-solver-2m \
          --out "$T/s.npy" --quiet --seed $k
        s=$($D c2st $o/reference_posterior_samples.npy "$T/s.npy" --json --quiet | json '"%.3f" % d["c2st"]')
        line="$line $a"
        seqline="$seqline $s (${secs} s)"
      done
      echo "$line"
      echo "$seqline"
    done
  done
fi
rm -rf "$T"
