#!/bin/sh
# The TimeMLP against the token transformer (Documentation/Methods.md §10.1) at equal training time: both train
# online on fresh simulations of an sbibm task for the same time budget, side by side with one thread each (so
# they share the machine equally), then draw 10,000 posterior samples per sbibm observation (two threads, one
# model after the other) scored by C2ST against the reference posterior. Regenerates the "TimeMLP or
# transformer" table of BENCHMARKS.md:
#
#   sh Benchmarks/network_compare.sh [TASKS] [BUDGET] [SEED] [OBSERVATIONS]
#
# defaults: "slcp", 10m, 1, "1 2 3 4 5". Extra options for the transformer go in TRANSFORMER_OPTIONS (default
# none: width 64, 4 heads, 4 blocks). Needs python3 and a release diffsbi (DIFFSBI=path, default
# .build/release/diffsbi). Work files in OUT (default a temporary directory).
set -eu
cd "$(dirname "$0")/.."
D=${DIFFSBI:-.build/release/diffsbi}
T=${OUT:-$(mktemp -d)}
tasks=${1:-slcp}
budget=${2:-10m}
seed=${3:-1}
observations=${4:-"1 2 3 4 5"}
json() { python3 -c "import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print($1)"; }

echo "| task | network | parameters | simulations in $budget | obs $(echo $observations | sed 's/ / | obs /g') | mean C2ST | sampling s per 10,000 draws |"
echo "|---|---|---|---|$(for k in $observations; do printf -- '---|'; done)---|---|"
for task in $tasks; do
  mkdir -p "$T/$task"
  $D train --task "$task" --online --time-budget "$budget" --seed "$seed" --threads 1 --out "$T/$task/timemlp" \
    --json --quiet > "$T/$task/timemlp.json" &
  p1=$!
  # shellcheck disable=SC2086
  $D train --task "$task" --online --time-budget "$budget" --seed "$seed" --threads 1 --out "$T/$task/transformer" \
    --network transformer ${TRANSFORMER_OPTIONS:-} --json --quiet > "$T/$task/transformer.json" &
  p2=$!
  wait $p1
  wait $p2
  for net in timemlp transformer; do
    sims=$(json 'd.get("simulations", "")' < "$T/$task/$net.json")
    params=$(python3 -c "import json; print(json.load(open('$T/$task/$net/config.json'))['parameters'])")
    row="| $task | $net | $params | $sims |"
    sum=0
    secs=0
    for k in $observations; do
      obs="data/sbibm/$task/observation_$k"
      $D sample --model "$T/$task/$net" --observation "$obs/observation.csv" --count 10000 --seed "$seed" \
        --out "$T/$task/$net-$k.npy" --json --quiet > "$T/$task/$net-$k.json"
      s=$(json 'd["sample_seconds"]' < "$T/$task/$net-$k.json")
      c=$($D c2st "$obs/reference_posterior_samples.npy" "$T/$task/$net-$k.npy" --json --quiet | json 'd["c2st"]')
      row="$row $(printf '%.3f' "$c") |"
      sum=$(python3 -c "print($sum + $c)")
      secs=$(python3 -c "print($secs + $s)")
    done
    n=$(echo $observations | wc -w)
    echo "$row **$(python3 -c "print('%.3f' % ($sum / $n))")** | $(python3 -c "print('%.1f' % ($secs / $n))") |"
  done
done
