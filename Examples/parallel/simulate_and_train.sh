#!/bin/sh
# A simulation campaign with GNU parallel (add --sshloginfile to spread it over machines), then training on
# all shards. Usage: Examples/parallel/simulate_and_train.sh [TASK] [COUNT] [SHARDS]
set -eu
DIFFSBI=${DIFFSBI:-.build/release/diffsbi}
TASK=${1:-two_moons}
COUNT=${2:-1000000}
SHARDS=${3:-20}
OUT=${OUT:-campaign-$TASK}
mkdir -p "$OUT/shards"

# Each shard is deterministic and disjoint: rerunning a failed shard reproduces it exactly.
seq 1 "$SHARDS" | parallel --halt now,fail=1 -j "${JOBS:-4}" \
  DIFFSBI_THREADS=1 "$DIFFSBI" simulate --task "$TASK" --count "$COUNT" --seed 1 --shard {}/"$SHARDS" \
  --out "$OUT/shards/shard-{}.npz" --quiet

"$DIFFSBI" train --data "$OUT"/shards/*.npz --task "$TASK" --epochs "${EPOCHS:-20}" --out "$OUT/model" --json
