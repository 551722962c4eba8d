#!/bin/sh
# External simulators (Documentation/Simulators.md): protocol overhead in online training, parallel workers, and a
# Python two_moons against the built-in one. Regenerates the "External simulators" section of BENCHMARKS.md:
#
#   sh Benchmarks/simulator_protocol.sh [overhead|parallel|c2st|all]
#
# Needs python3 with numpy and a release build of diffsbi (DIFFSBI=path, default .build/release/diffsbi).
set -eu
cd "$(dirname "$0")/.."
D=${DIFFSBI:-.build/release/diffsbi}
T=$(mktemp -d)
what=${1:-all}
json() { python3 -c "import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print($1)"; }

if [ "$what" = overhead ] || [ "$what" = all ]; then
  echo "## online training, batch 128, gaussian_linear prior and shape (10 parameters, 10 data values)"
  common="--task gaussian_linear --online --simulations 300000 --epochs 10 --batch-size 128 --quiet --json"
  # shellcheck disable=SC2086
  $D train $common --out "$T/built-in" > "$T/built-in.json"
  # shellcheck disable=SC2086
  $D train $common --simulator "python3 Examples/simulators/gaussian_noise.py" --out "$T/python" > "$T/python.json"
  for run in built-in python; do
    echo "$run: $(json '"%.0f samples/s (%d simulations in %.1f s)" % (d["simulations"] / d["train_seconds"], d["simulations"], d["train_seconds"])' < "$T/$run.json")"
  done
fi

if [ "$what" = parallel ] || [ "$what" = all ]; then
  echo "## a simulator costing 1 ms per row: 10,000 rows in batches of 100"
  for k in 1 2; do
    start=$(date +%s.%N)
    $D simulate --simulator "python3 Examples/simulators/gaussian_noise.py --sleep-per-row 0.001" --task gaussian_linear \
      --count 10000 --simulator-batch 100 --workers $k --out "$T/p$k.npz" --quiet
    end=$(date +%s.%N)
    echo "workers $k: $(python3 -c "print('%.2f s' % ($end - $start))")"
  done
fi

if [ "$what" = c2st ] || [ "$what" = all ]; then
  echo "## two_moons, 10^5 budgeted simulations, 30 epochs, DPM-Solver++(2M) 10,000 draws; C2ST on observations 1-5"
  for run in built-in python; do
    if [ $run = python ]; then
      $D train --simulator "python3 Examples/simulators/two_moons.py" --task two_moons --simulations 100000 \
        --epochs 30 --out "$T/m-$run" --quiet --json > "$T/t-$run.json"
    else
      $D train --task two_moons --simulations 100000 --epochs 30 --out "$T/m-$run" --quiet --json > "$T/t-$run.json"
    fi
    line="$run:"
    for k in 1 2 3 4 5; do
      o=data/sbibm/two_moons/observation_$k
      $D sample --model "$T/m-$run" --observation $o/observation.csv --count 10000 --sampler dpm-solver-2m \
        --out "$T/s-$run-$k.npy" --quiet --seed $k
      c=$($D c2st $o/reference_posterior_samples.npy "$T/s-$run-$k.npy" --json --quiet | json '"%.3f" % d["c2st"]')
      line="$line $c"
    done
    echo "$line (train $(json '"%.0f s" % d["train_seconds"]' < "$T/t-$run.json"))"
  done
fi
rm -rf "$T"
