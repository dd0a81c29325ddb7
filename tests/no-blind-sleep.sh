#!/usr/bin/env bash
# Usage: no-blind-sleep.sh DIR...
# A test that sleeps and then asserts flakes on a busy machine. In the
# shell tests under DIR, a `sleep` is allowed only as the last statement of
# a polling loop (the next statement is `done`): wait_until in
# tests/e2e/lib.sh is the way to wait for a condition with a deadline.
# Prints each blind sleep as file:line and exits 1 when there is one.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 DIR..." >&2; exit 2; }
found=0
while IFS= read -r -d '' f; do
    out=$(awk '
        function report() { printf "%s:%d: sleep outside a polling loop: %s\n", FILENAME, at, text; bad = 1 }
        /^[[:space:]]*#/ || /^[[:space:]]*$/ { next }
        {
            if (pending) {
                if ($0 !~ /^[[:space:]]*done([[:space:];|&>]|$)/) report()
                pending = 0
            }
            if ($0 ~ /^[[:space:]]*sleep[[:space:]]+[0-9.]+[[:space:]]*;?[[:space:]]*$/) {
                pending = 1; at = FNR; text = $0
            }
        }
        END { if (pending) report(); exit bad }' "$f") || { echo "$out"; found=1; }
done < <(find "$@" -name '*.sh' -type f -print0 | sort -z)
if [ "$found" -ne 0 ]; then
    echo "FAIL: wait for a condition with a deadline (wait_until) instead of sleeping" >&2
    exit 1
fi
echo "ok: no sleep outside a polling loop in $*"
