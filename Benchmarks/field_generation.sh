#!/bin/sh
# Field generation on the Gaussian random fields (Documentation/Methods.md §11.6): a conditional U-Net trained
# online for a fixed time per size, then the classifier two-sample test of `diffsbi diagnose`. Regenerates the
# "Field generation" table of BENCHMARKS.md:
#
#   sh Benchmarks/field_generation.sh [SIZES] [BUDGET] [PAIRS] [CLASSIFIER_EPOCHS] [EXTRA TRAIN OPTIONS…]
#
# defaults: "8 16 32", 10m, 5000, 30. Prints one table row per size; models and reports stay in
# field-generation/ (report.html shows simulated and generated fields side by side). Needs python3 and a release
# diffsbi (DIFFSBI=path, default .build/release/diffsbi).
set -eu
cd "$(dirname "$0")/.."
D=${DIFFSBI:-.build/release/diffsbi}
sizes=${1:-"8 16 32"}
budget=${2:-10m}
pairs=${3:-5000}
epochs=${4:-30}
shift $(( $# < 4 ? $# : 4 ))
out=field-generation
mkdir -p "$out"
json() { python3 -c "import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print($1)"; }
echo "| S | U-Net stages | parameters | training | simulations | train s | C2ST (best epoch) | C2ST (last epoch) | pixel sd simulated / generated | generate s | classifier s |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for s in $sizes; do
  t=$($D train --task "grf_$s" --target field --online --time-budget "$budget" --batch-size 32 --out "$out/model_$s" \
        --quiet --json "$@")
  d=$($D diagnose --model "$out/model_$s" --datasets "$pairs" --classifier-epochs "$epochs" --out "$out/diagnose_$s" \
        --quiet --json)
  stages=$(python3 -c "import json; print(len(json.load(open('$out/model_$s/config.json'))['unet']['widths']))")
  echo "| $s | $stages | $(echo "$t" | json 'd["parameters"]') | online $budget | $(echo "$t" | json 'd["simulations"]') \
| $(echo "$t" | json 'round(d["train_seconds"])') | $(echo "$d" | json 'round(d["c2st"], 3)') \
| $(echo "$d" | json 'round(d["c2st_final"], 3)') \
| $(echo "$d" | json '"%.4f / %.4f" % (d["pixel_sd_simulated"], d["pixel_sd_generated"])') \
| $(echo "$d" | json 'round(d["generate_seconds"])') | $(echo "$d" | json 'round(d["classifier_seconds"])') |"
done
