#!/bin/sh
# The Python front end's tests (python/tests) against the release diffsbi built by `make test`; reported as skipped
# when python3 cannot import numpy.
set -e
cd "$(dirname "$0")/.."
if ! python3 -c "import numpy" >/dev/null 2>&1; then
  echo "python front-end tests: SKIPPED (needs python3 with numpy)"
  exit 0
fi
DIFFSBI_EXECUTABLE="${DIFFSBI_EXECUTABLE:-.build/release/diffsbi}" python3 -m unittest discover -s python/tests -t python
