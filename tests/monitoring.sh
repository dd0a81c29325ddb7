#!/usr/bin/env bash
# The shipped monitoring files (dist/monitoring/, $1 = the source tree):
# both Prometheus configs pass `promtool check config` (their rule file
# and file_sd targets included), the rules pass `promtool check rules`
# and their unit tests (`promtool test rules rules-test.yml`), the Grafana
# dashboard is valid JSON whose every query parses as PromQL, and every
# recording rule used is defined. Whether the names they use are served
# is tests/e2e/monitoring.sh's check.
set -euo pipefail
src=$1
dir=$src/dist/monitoring
check=$src/tests/monitoring_check.py
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v promtool >/dev/null || fail "promtool missing (Debian package prometheus)"
command -v python3 >/dev/null || fail "python3 missing"
work=$(mktemp -d "${TMPDIR:-/tmp}/p2p-monitoring.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$dir"
for c in prometheus-testnet.yml prometheus-systemd.yml; do
    promtool check config "$c" || fail "promtool check config $c"
done
promtool check rules p2p-replica.rules.yml || fail "promtool check rules"
promtool test rules rules-test.yml || fail "promtool test rules"
python3 "$check" dashboard grafana-p2p-replica.json "$work/dash.yml" || fail "dashboard"
promtool check rules "$work/dash.yml" || fail "a dashboard query does not parse"
python3 "$check" recorded p2p-replica.rules.yml grafana-p2p-replica.json || fail "recording rules"
echo "OK: configs, rules, rule tests, dashboard"
