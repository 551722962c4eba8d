#!/bin/sh
# Builds libFuzzer harnesses for the file readers (Swift's -sanitize=fuzzer with AddressSanitizer, Linux only)
# and runs each one.
#
#   scripts/fuzz/run.sh [READER ...]        READER: npy npz csv safetensors inflate modelconfig (default: all)
#
# Environment: FUZZ_RUNS (inputs per reader, default 1000000), FUZZ_SECONDS (time limit per reader, default
# 0 = none), FUZZ_MAX_LEN (largest input, default 16384), FUZZ_JOBS (parallel fuzzing jobs, default 1).
# Each input must finish within 10 s and no single allocation may exceed 64 MB (a 16 KB input justifies at
# most ~17 MB: the DEFLATE expansion bound of 1032x; the inflate buffer starts at 64 KB and grows only as
# zlib produces output). DEFLATE itself is the system zlib, which is not instrumented: the fuzzer covers our
# zip container parsing, size checks and buffer handling around it. Findings land in .build-fuzz/artifacts/READER/; the
# corpus grows in .build-fuzz/corpus/READER/ (seeded from Fuzz/seeds/READER/). A summary line per reader
# goes to .build-fuzz/summary.txt.
set -eu
cd "$(dirname "$0")/../.."
readers=${*:-"npy npz csv safetensors inflate modelconfig"}
runs=${FUZZ_RUNS:-1000000}
seconds=${FUZZ_SECONDS:-0}
max_len=${FUZZ_MAX_LEN:-16384}
jobs=${FUZZ_JOBS:-1}
out=.build-fuzz

echo "== building instrumented FileFormats and NeuralNet"
mkdir -p "$out"
if ! swift build -c release --target NeuralNet -Xswiftc -sanitize=fuzzer,address --build-path "$out" \
  > "$out/build.log" 2>&1; then
  tail -30 "$out/build.log"
  exit 1
fi
mkdir -p "$out/bin"
: > "$out/summary.txt"
for reader in $readers; do
  define=$(echo "FUZZ_$reader" | tr '[:lower:]' '[:upper:]')
  extra=""
  if [ "$reader" = modelconfig ]; then extra=$(ls "$out"/release/NeuralNet.build/*.o); fi
  echo "== linking fuzz-$reader"
  swiftc -O -sanitize=fuzzer,address -parse-as-library -D "$define" -I "$out/release/Modules" \
    -Xcc -fmodule-map-file=Sources/COpenBLAS/module.modulemap -Xcc -ISources/COpenBLAS \
    -Xcc -fmodule-map-file=Sources/CZlib/module.modulemap -Xcc -ISources/CZlib \
    Fuzz/Harness.swift "$out"/release/FileFormats.build/*.o "$out"/release/NumericCore.build/*.o $extra \
    -lopenblas -lz \
    -o "$out/bin/fuzz-$reader" 2>/dev/null
  mkdir -p "$out/corpus/$reader" "$out/artifacts/$reader"
  cp -n Fuzz/seeds/"$reader"/* "$out/corpus/$reader/" 2>/dev/null || true
  dict=""
  case $reader in
    npy|npz) dict="-dict=Fuzz/npy.dict" ;;
    safetensors) dict="-dict=Fuzz/safetensors.dict" ;;
    csv) dict="-dict=Fuzz/csv.dict" ;;
    modelconfig) dict="-dict=Fuzz/modelconfig.dict" ;;
  esac
  parallel=""
  if [ "$jobs" -gt 1 ]; then parallel="-jobs=$jobs -workers=$jobs"; fi
  echo "== fuzzing $reader: $runs inputs"
  start=$(date +%s)
  status=0
  "$out/bin/fuzz-$reader" -runs="$runs" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=64 $parallel -print_final_stats=1 $dict \
    -artifact_prefix="$out/artifacts/$reader/" "$out/corpus/$reader" > "$out/fuzz-$reader.log" 2>&1 || status=$?
  elapsed=$(( $(date +%s) - start ))
  executed=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/fuzz-$reader.log" | tail -1 | grep -o '[0-9]*$' || echo "?")
  findings=$(ls "$out/artifacts/$reader" | wc -l)
  corpus=$(ls "$out/corpus/$reader" | wc -l)
  line="$reader: $executed inputs in ${elapsed}s, exit $status, corpus $corpus files, $findings artifacts"
  echo "$line" | tee -a "$out/summary.txt"
  if [ "$status" -ne 0 ]; then tail -40 "$out/fuzz-$reader.log"; fi
done
cat "$out/summary.txt"
