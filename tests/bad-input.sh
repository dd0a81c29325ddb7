#!/usr/bin/env bash
# Usage: bad-input.sh P2P_SIM DATA_DIR
# A scenario with a typo'd key exits 2 naming file:line; so does a missing
# file; a bad flag exits 2.
set -euo pipefail
sim=$1 data=$2
expect_exit2() {
  local want=$1; shift
  set +e
  err=$("$@" 2>&1 >/dev/null); rc=$?
  set -e
  [ "$rc" -eq 2 ] || { echo "FAIL: '$*' exited $rc, want 2"; exit 1; }
  case "$err" in *"$want"*) ;; *) echo "FAIL: '$*' said: $err (want '$want')"; exit 1;; esac
  echo "ok: $* -> exit 2: $err"
}
line=$(grep -n '^ *latncy:' "$data/bad-typo.yaml" | head -1 | cut -d: -f1)
expect_exit2 "bad-typo.yaml:$line:" "$sim" run "$data/bad-typo.yaml"
expect_exit2 "nonexistent.yaml" "$sim" run "$data/nonexistent.yaml"
expect_exit2 "--seed" "$sim" run "$data/bad-typo.yaml" --seed -3
expect_exit2 "unknown command" "$sim" frobnicate
