#!/usr/bin/env bash
# Runs a subset of the test suite under AddressSanitizer and ThreadSanitizer.
#
#   scripts/sanitizers.sh [address|thread ...]     (default: both)
#
# Sanitized builds are debug builds, and numeric code in debug is slow, so the default filter selects the
# suites that exercise memory handling and threading quickly: the file readers and writers (with the fuzz
# corpus replay), the random streams, GEMM/threading, layers, training with checkpoints, non-finite steps and
# the concurrency determinism tests. Override with SANITIZER_FILTER (a swift test --filter regex).
# Each sanitizer builds into its own scratch directory (.build-asan, .build-tsan), so normal builds stay intact.
set -euo pipefail
cd "$(dirname "$0")/.."

FILTER="${SANITIZER_FILTER:-FileFormatsTests|NumericCoreTests.RandomTests|NumericCoreTests.GEMMTests|NonFiniteStepTests|CheckpointTests|ConcurrencyTests}"
SANITIZERS=("$@")
[ ${#SANITIZERS[@]} -eq 0 ] && SANITIZERS=(address thread)
JOBS="${JOBS:-2}"

status=0
for s in "${SANITIZERS[@]}"; do
  case "$s" in
    address) scratch=.build-asan ;;
    thread) scratch=.build-tsan ;;
    *) echo "unknown sanitizer: $s (address or thread)" >&2; exit 2 ;;
  esac
  echo "== $s sanitizer: building"
  start=$(date +%s)
  swift build --build-tests -j "$JOBS" --sanitize="$s" --scratch-path "$scratch"
  echo "== $s sanitizer: testing (filter: $FILTER)"
  # halt_on_error makes any report fail the run; detect_leaks is off because the Swift runtime keeps
  # intentionally immortal metadata that LeakSanitizer reports.
  if ASAN_OPTIONS="halt_on_error=1:detect_leaks=0" TSAN_OPTIONS="halt_on_error=1" \
     swift test --skip-build --sanitize="$s" --scratch-path "$scratch" --filter "$FILTER"; then
    echo "== $s sanitizer: clean ($(( $(date +%s) - start )) s)"
  else
    echo "== $s sanitizer: FAILED" >&2
    status=1
  fi
done
exit $status
