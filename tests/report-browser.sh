#!/usr/bin/env bash
# Opens a generated HTML report in headless Chromium: the page must log
# nothing to the console (it has no script, so any message is an error),
# and every plot must have rendered (an <svg> with drawn paths in each
# figure; the heatmap an image too); a scenario with a state section has
# the state-sync plot; every TEXT given must be on the rendered page (a
# fault bar's nodes, say). Usage: report-browser.sh P2P_SIM SCENARIO
# [TEXT...]; SHOT=FILE.png also takes a screenshot of the whole page.
set -euo pipefail
sim=$1 scenario=$2
shift 2
shot=${SHOT:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "report-browser: $*" >&2; exit 1; }

"$sim" run "$scenario" --quiet --report "$work/report.html" >/dev/null 2>"$work/run.err" ||
  { cat "$work/run.err" >&2; fail "p2p-sim run --report failed"; }
[ -s "$work/report.html" ] || fail "no report written"
grep -q 'src="http\|href="http\|<script' "$work/report.html" &&
  fail "the report loads something from the network or runs script"

chromium=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chromium" ] || fail "chromium is not installed (./ci/install-deps installs it)"
# Flags from the machine notes: no sandbox as root, nothing that reaches
# for the network, a fresh profile.
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update
       --disable-sync --user-data-dir="$work/profile")
timeout 120 "$chromium" "${flags[@]}" --enable-logging=stderr --v=0 \
  --dump-dom "file://$work/report.html" >"$work/dom.html" 2>"$work/chromium.err" ||
  { tail -20 "$work/chromium.err" >&2; fail "chromium failed"; }
if grep -E 'CONSOLE|Uncaught' "$work/chromium.err" >&2; then
  fail "the page logged to the console"
fi
plots="latency bytes_sent bytes_received link_heatmap progress"
grep -q '^state:' "$scenario" && plots="$plots state_sync"
for plot in $plots; do
  # The figure's markup up to its caption: one <svg> with paths.
  fig=$(awk -v id="plot-$plot" 'index($0, "id=\"" id "\"") {on=1}
        on {print} on && /<\/figure>/ {exit}' "$work/dom.html")
  [ -n "$fig" ] || fail "plot $plot is missing"
  grep -q '<svg' <<<"$fig" || fail "plot $plot has no <svg>"
  paths=$(grep -o '<path' <<<"$fig" | wc -l)
  [ "$paths" -ge 5 ] || fail "plot $plot drew only $paths paths"
  if [ "$plot" = link_heatmap ]; then
    [ "$(grep -o '<image' <<<"$fig" | wc -l)" -eq 2 ] || fail "the heatmap has not two images"
  fi
done
grep -q 'id="state-sync"' "$work/dom.html" || fail "no state-sync section"
grep -q 'not simulated yet' "$work/dom.html" && fail "the state-sync section says it is not simulated"
grep -q 'Replay:' "$work/dom.html" || fail "no replay command"
for text in "$@"; do
  grep -qF -- "$text" "$work/dom.html" || fail "the page does not say '$text'"
done
if [ -n "$shot" ]; then
  timeout 120 "$chromium" "${flags[@]}" --window-size=1100,4400 \
    --screenshot="$shot" "file://$work/report.html" >/dev/null 2>&1 ||
    fail "screenshot failed"
fi
echo "report-browser: every plot rendered ($plots), no console messages"
