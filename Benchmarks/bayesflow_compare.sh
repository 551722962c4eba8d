#!/bin/sh
# diffsbi against BayesFlow's default diffusion workflow on the same 10^4 two_moons simulations, in one run on one
# machine: training time at equal epochs and batch size, sampling time for 10,000 draws, and each side's C2ST against
# the reference posterior of sbibm observation 1. Regenerates the "diffsbi and BayesFlow side by side" table of
# BENCHMARKS.md:
#
#   sh Benchmarks/bayesflow_compare.sh [EPOCHS] [BATCHES]
#
# defaults: 100 epochs, diffsbi batches "32 64 128" (BayesFlow trains at its default batch 32, and at 64 when 64 is
# listed). Needs a release diffsbi (DIFFSBI=path, default .build/release/diffsbi) and a Python with bayesflow and
# jax (PYTHON=path, default python3; `pip install bayesflow jax`); BAYESFLOW=0 runs only the diffsbi rows (for
# example to time another diffsbi build beside them). Both sides use every core of the machine. diffsbi trains
# without a validation split (`--validation-fraction 0`), as BayesFlow's `fit_offline` does, so both run all epochs.
set -eu
cd "$(dirname "$0")/.."
D=${DIFFSBI:-.build/release/diffsbi}
PY=${PYTHON:-python3}
epochs=${1:-100}
batches=${2:-"32 64 128"}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
o=data/sbibm/two_moons/observation_1
json() { python3 -c "import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print($1)"; }
now() { python3 -c 'import time; print(time.time())'; }
since() { python3 -c "import time; print('%.1f' % (time.time() - $1))"; }
c2st() { $D c2st $o/reference_posterior_samples.npy "$1" --json --quiet | json '"%.3f" % d["c2st"]'; }

$D simulate --task two_moons --count 10000 --seed 1 --out "$T/sims.npz" --quiet
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(date -u +%Y-%m-%d)"
echo
echo "| side | batch | train s ($epochs epochs) | 10,000 draws s | sampler (network evaluations) | C2ST obs 1 |"
echo "|---|---|---|---|---|---|"

bf_rows=""
for b in $batches; do
  [ "${BAYESFLOW:-1}" = 0 ] && break
  case "$b" in 32|64) ;; *) continue ;; esac
  if $PY Benchmarks/bayesflow_two_moons.py --data "$T/sims.npz" --observation $o/observation.csv \
      --out "$T/bf-$b.npy" --epochs "$epochs" --batch-size "$b" --draws 10000 > "$T/bf-$b.json" 2> "$T/bf-$b.log"; then
    bt=$(json '"%.1f" % d["train_seconds"]' < "$T/bf-$b.json")
    bs=$(json '"%.1f" % d["sample_seconds"]' < "$T/bf-$b.json")
    echo "| BayesFlow $(json 'd["bayesflow"]' < "$T/bf-$b.json") (JAX) | $b | $bt | $bs | its default (adaptive two-step) | $(c2st "$T/bf-$b.npy") |"
    bf_rows="$bf_rows $b:$bt:$bs"
  else
    echo "| BayesFlow | $b | skipped: $(tail -1 "$T/bf-$b.log") | | | |"
  fi
done

for b in $batches; do
  start=$(now)
  $D train --data "$T/sims.npz" --task two_moons --epochs "$epochs" --batch-size "$b" --validation-fraction 0 \
    --out "$T/m-$b" --quiet
  tt=$(since "$start")
  for sampler in two-step-adaptive dpm-solver-2m default; do
    choice="--sampler $sampler"
    [ "$sampler" = default ] && choice=""
    $D sample --model "$T/m-$b" --observation $o/observation.csv --count 10000 $choice --seed 1 \
      --out "$T/d.npy" --json --quiet > "$T/s.json"
    st=$(json '"%.1f" % d["sample_seconds"]' < "$T/s.json")
    ev=$(json 'd["evaluations"]' < "$T/s.json")
    name=$sampler
    [ "$sampler" = default ] && name="default: $(json 'd["sampler"]' < "$T/s.json")"
    echo "| diffsbi | $b | $tt | $st | $name ($ev) | $(c2st "$T/d.npy") |"
    eval "st_${b}_$(echo $sampler | tr - _)=$st"
  done
  eval "tt_$b=$tt"
done

echo
echo "| ratio (BayesFlow ÷ diffsbi) | training | sampling, two-step-adaptive | sampling, dpm-solver-2m | sampling, diffsbi's default |"
echo "|---|---|---|---|---|"
for row in $bf_rows; do
  bb=${row%%:*}; rest=${row#*:}; bt=${rest%%:*}; bs=${rest#*:}
  for b in $batches; do
    eval "tt=\${tt_$b:-}"; eval "s1=\${st_${b}_two_step_adaptive:-}"; eval "s2=\${st_${b}_dpm_solver_2m:-}"
    eval "s3=\${st_${b}_default:-}"
    [ -n "$tt" ] || continue
    python3 -c "print('| BayesFlow batch $bb ÷ diffsbi batch $b | %.2f× | %.2f× | %.2f× | %.2f× |' % ($bt / $tt, $bs / $s1, $bs / $s2, $bs / $s3))"
  done
done
