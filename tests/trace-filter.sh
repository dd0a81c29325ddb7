#!/usr/bin/env bash
# Usage: trace-filter.sh P2P_SIM SCENARIO [TRACE_FORMAT_MD]
# `p2p-sim trace` against an independent awk reading of the same trace: for
# node, artifact, peer, kind and time filters every output line matches and
# the count (or the whole output) equals awk's; the window is from <= t < to
# at an event's exact time; '-' reads stdin; headers pass. Bad flags and a
# malformed or too long line exit 2 naming the flag or FILE:LINE. --kind
# takes the kinds --help lists, which are the kinds docs/trace-format.md
# names and include every kind the trace holds; an unknown kind is refused
# naming the nearest one.
set -euo pipefail
sim=$1 scenario=$2 doc=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$sim" run "$scenario" --quiet --events --trace "$tmp/t" >/dev/null
[ -s "$tmp/t" ] || fail "empty trace"

# Filters the trace with p2p-sim trace into $tmp/out; the count in $got.
filter() {
  "$sim" trace "$tmp/t" "$@" >"$tmp/out" || fail "'trace $*' exited $?"
  got=$(wc -l <"$tmp/out")
}
# Virtual time of field 1 in ns (exact in a double below 2^53 ns, 104 days),
# for the awk conditions below.
NS='function ns(t,  p) { split(t, p, "."); return p[1] * 1e9 + p[2] }'
# Fails unless every line of $tmp/out satisfies the awk condition $1.
all_match() {
  awk "$NS !($1) { print \"line \" NR \": \" \$0; bad = 1 } END { exit bad }" \
    "$tmp/out" || fail "'$2' printed a line that does not match"
}
# awk's count of trace lines satisfying the condition $1.
count() { awk "$NS $1 { n++ } END { print n + 0 }" "$tmp/t"; }
same_count() {
  [ "$got" -eq "$2" ] || fail "'$1' printed $got lines, awk counts $2"
  [ "$got" -gt 0 ] || fail "'$1' matched nothing; the check is vacuous"
  echo "ok: trace $1 -> $got lines"
}

# No filter: the trace unchanged.
filter
cmp -s "$tmp/t" "$tmp/out" || fail "no filter: output differs from the trace"
echo "ok: no filter -> the trace, byte for byte ($got lines)"

# --node: one node, and several as a list and a repeat.
filter --node 3
all_match '$2 == "n3"' "--node 3"
same_count "--node 3" "$(count '$2 == "n3"')"
filter --node 1,n3 --node 5
all_match '$2 == "n1" || $2 == "n3" || $2 == "n5"' "--node 1,n3 --node 5"
same_count "--node 1,n3 --node 5" "$(count '$2 == "n1" || $2 == "n3" || $2 == "n5"')"

# --artifact: a 6-digit prefix of the first artifact created; grep agrees.
id=$(awk '$3 == "create" { sub(/^id=/, "", $4); print $4; exit }' "$tmp/t")
[ ${#id} -eq 16 ] || fail "no create line with a 16-digit id (got '$id')"
prefix=${id:0:6}
has_id="/ id=$prefix[0-9a-f]*( |\$)/"
filter --artifact "$prefix"
all_match "$has_id" "--artifact $prefix"
same_count "--artifact $prefix" "$(count "$has_id")"
[ "$got" -eq "$(grep -c " id=$prefix" "$tmp/t")" ] || fail "grep counts differ"

# --from/--to: every line inside the window.
filter --from 2s --to 4.5s
all_match 'ns($1) >= 2e9 && ns($1) < 4.5e9' "--from 2s --to 4.5s"
same_count "--from 2s --to 4.5s" "$(count 'ns($1) >= 2e9 && ns($1) < 4.5e9')"

# All together, plus --peer and --kind: the whole output equals awk's.
cond='$2 == "n3" && $3 == "deliver" && $4 ~ /^peer=(0|1|2|4)$/ && ns($1) >= 1e9 && ns($1) < 12e9'
filter --node 3 --kind deliver --peer 0,1,2,4 --from 1s --to 12s
awk "$NS $cond" "$tmp/t" >"$tmp/want"
cmp -s "$tmp/want" "$tmp/out" || fail "combined filter differs from awk"
same_count "--node 3 --kind deliver --peer 0,1,2,4 --from 1s --to 12s" "$(wc -l <"$tmp/want")"

# The window at an event's exact time T: --from T keeps it, --to T drops it.
t=$(awk '$3 == "deliver" { print $1; exit }' "$tmp/t")
at_t=$(count "\$1 == \"$t\"")
before_t=$(count "ns(\$1) < ns(\"$t\")")
filter --to "${t}s"
[ "$got" -eq "$before_t" ] || fail "--to ${t}s printed $got lines, want $before_t"
filter --from "${t}s"
[ "$(head -n "$at_t" "$tmp/out" | awk -v t="$t" '$1 == t' | wc -l)" -eq "$at_t" ] ||
  fail "--from ${t}s does not start with the $at_t lines at $t"
[ "$got" -eq "$(( $(wc -l <"$tmp/t") - before_t ))" ] || fail "--from ${t}s count"
echo "ok: --from/--to ${t}s split the trace at $before_t lines"

# '-' reads stdin; '#' lines pass every filter; no match is not an error.
"$sim" trace - --node 3 <"$tmp/t" | cmp -s - <("$sim" trace "$tmp/t" --node 3) ||
  fail "stdin output differs"
{ echo "# header"; head -n 50 "$tmp/t"; } >"$tmp/h"
[ "$("$sim" trace "$tmp/h" --node 999 | head -n 1)" = "# header" ] || fail "header"
echo "ok: stdin, header, no match"

expect_exit2() {
  local want=$1; shift
  set +e
  err=$("$@" 2>&1 >/dev/null); rc=$?
  set -e
  [ "$rc" -eq 2 ] || fail "'$*' exited $rc, want 2"
  case "$err" in *"$want"*) ;; *) fail "'$*' said: $err (want '$want')";; esac
  echo "ok: $* -> exit 2: ${err%%$'\n'*}"
}
expect_exit2 "--bogus" "$sim" trace "$tmp/t" --bogus
expect_exit2 "--node" "$sim" trace "$tmp/t" --node x
expect_exit2 "--artifact" "$sim" trace "$tmp/t" --artifact abc
expect_exit2 "--from" "$sim" trace "$tmp/t" --from 10
expect_exit2 "--to" "$sim" trace "$tmp/t" --from 5s --to 5s
expect_exit2 "FILE" "$sim" trace
expect_exit2 "nonexistent.trace" "$sim" trace "$tmp/nonexistent.trace"

# A malformed line 57: exit 2 naming bad.trace:57, the 56 before printed.
{ head -n 56 "$tmp/t"; echo "0.5 n0 send peer=1"; sed -n '57,80p' "$tmp/t"; } >"$tmp/bad.trace"
expect_exit2 "bad.trace:57: '0.5' is not a virtual time" "$sim" trace "$tmp/bad.trace"
[ "$("$sim" trace "$tmp/bad.trace" 2>/dev/null | wc -l)" -eq 56 ] ||
  fail "the lines before the malformed one were not all printed"
{ head -n 3 "$tmp/t"; printf '1.000000000 n0 send %01100d\n' 0; } >"$tmp/long.trace"
expect_exit2 "long.trace:4: line longer than" "$sim" trace "$tmp/long.trace"
printf '1.000000000 n0 send peer=1\r\n' >"$tmp/crlf.trace"
expect_exit2 "<stdin>:1:" "$sim" trace - <"$tmp/crlf.trace"

"$sim" trace --help | grep -q '^usage: p2p-sim trace' || fail "--help"

# --kind: an unknown kind is refused with the nearest known one.
expect_exit2 "--kind: 'delivr' is not an event kind; did you mean 'deliver'?" \
  "$sim" trace "$tmp/t" --kind delivr
expect_exit2 "'conn_lots' is not an event kind; did you mean 'conn_lost'?" \
  "$sim" trace "$tmp/t" --kind send,conn_lots
expect_exit2 "did you mean 'download_start'?" "$sim" trace "$tmp/t" --kind downlaod_start
# The kinds --help lists (after its "event kinds" line).
"$sim" trace --help | sed -n '/^event kinds/,$p' | tail -n +2 | tr ' ' '\n' |
  grep . | sort >"$tmp/kinds"
[ "$(wc -l <"$tmp/kinds")" -gt 30 ] || fail "--help lists $(wc -l <"$tmp/kinds") kinds"
# Every kind in the trace is one of them, and --kind keeps exactly its lines.
for k in $(awk '{ print $3 }' "$tmp/t" | sort -u); do
  grep -qx "$k" "$tmp/kinds" || fail "the trace has kind '$k' that --help does not list"
  filter --kind "$k"
  [ "$got" -eq "$(count "\$3 == \"$k\"")" ] || fail "--kind $k count"
done
echo "ok: --kind takes every kind of the trace ($(awk '{ print $3 }' "$tmp/t" | sort -u | wc -l) kinds)"
# docs/trace-format.md names the same kinds: its table's first column and
# the --events paragraph.
if [ -n "$doc" ]; then
  { awk -F'|' '/^\| `/ { print $2 }' "$doc"
    sed -n '/^With `--events`/,/^## /p' "$doc"; } |
    grep -o '`[a-z_]*`' | tr -d '`' | grep . | sort -u >"$tmp/doc-kinds"
  diff "$tmp/doc-kinds" "$tmp/kinds" >"$tmp/kinds.diff" ||
    { cat "$tmp/kinds.diff"; fail "docs/trace-format.md (<) and --help (>) name different kinds"; }
  echo "ok: docs/trace-format.md names the $(wc -l <"$tmp/kinds") kinds --help lists"
fi
echo "ok: all trace filter checks passed"
