#!/bin/sh
# Renders an HTML report (default: ./diffsbi-demo/report.html) in headless Chromium (Debian's `chromium` package)
# and writes a full-page PNG screenshot next to it, to check that the report and its inline SVG plots display.
# Usage: scripts/render_report.sh [REPORT.html] [WIDTH]
set -eu
REPORT=${1:-diffsbi-demo/report.html}
WIDTH=${2:-1280}
[ -f "$REPORT" ] || { echo "render_report: $REPORT: no such file (run 'make demo' first)" >&2; exit 2; }
BROWSER=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$BROWSER" ] || { echo "render_report: chromium not found (apt-get install chromium)" >&2; exit 2; }
ABS=$(cd "$(dirname "$REPORT")" && pwd)/$(basename "$REPORT")
PNG=${ABS%.html}.png
# A tall window so the whole page fits in one screenshot.
"$BROWSER" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="$WIDTH,4200" \
  --screenshot="$PNG" "file://$ABS" >/dev/null 2>&1
[ -s "$PNG" ] || { echo "render_report: no screenshot written" >&2; exit 1; }
echo "render_report: $PNG"
