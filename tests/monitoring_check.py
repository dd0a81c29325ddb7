#!/usr/bin/env python3
"""Checks of the shipped monitoring files (dist/monitoring/) that promtool
does not make. Used by tests/monitoring.sh and tests/e2e/monitoring.sh.

  monitoring_check.py dashboard DASH.json OUT.yml
      DASH is a Grafana dashboard: JSON, unique panel ids, every query on
      the $datasource variable; writes every PromQL expression it holds
      as a recording rule into OUT.yml ($__rate_interval as 5m, $job and
      $instance as .*), for `promtool check rules` to parse.
  monitoring_check.py recorded RULES.yml DASH.json
      every recording rule name (p2p:...) used in RULES or DASH is one
      RULES records.
  monitoring_check.py served METRICS.txt RULES.yml DASH.json
      every metric name (p2p_*, process_*) RULES and DASH mention is a
      family (or a histogram's _bucket/_sum/_count) of the Prometheus
      text METRICS, and every label="value" their selectors match exactly
      is a label value one of that family's samples has. Prints what it
      checked; exits 1 naming each name or value not served.
"""
import json
import re
import sys

NAME = re.compile(r'(?<![A-Za-z0-9_:.])((?:p2p|process)_[a-z0-9_]+)\b')
RECORD = re.compile(r'(?<![A-Za-z0-9_])(p2p:[a-z0-9_:]+)')
SELECTOR = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}')
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)\s*"([^"]*)"')
# Labels Prometheus adds, or the rules' own.
OUTSIDE = {"job", "instance", "alertname", "alertstate", "severity", "node",
           "subnet"}


def dashboard_exprs(dash):
    out = []
    for a in dash.get("annotations", {}).get("list", []):
        if "expr" in a:
            out.append(a["expr"])
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if v.get("type") == "query" and q:
            m = re.match(r'label_values\((.*),\s*\w+\)$', q)
            out.append(m.group(1) if m else q)
    for p in dash.get("panels", []):
        for t in p.get("targets", []):
            out.append(t["expr"])
    return out


def substitute(expr):
    return (expr.replace("$__rate_interval", "5m")
            .replace("$job", ".*").replace("$instance", ".*"))


def cmd_dashboard(path, out):
    with open(path) as f:
        dash = json.load(f)
    errors = []
    ids = [p["id"] for p in dash["panels"]]
    if len(ids) != len(set(ids)):
        errors.append("panel ids repeat")
    for p in dash["panels"]:
        if p["type"] == "row":
            continue
        if p.get("datasource", {}).get("uid") != "${datasource}":
            errors.append("panel %r not on ${datasource}" % p["title"])
        if not p.get("targets"):
            errors.append("panel %r has no query" % p["title"])
    exprs = dashboard_exprs(dash)
    with open(out, "w") as f:
        f.write("groups:\n  - name: dashboard\n    rules:\n")
        for i, e in enumerate(exprs):
            f.write("      - record: dashboard_expr_%d\n        expr: %s\n"
                    % (i, json.dumps(substitute(e))))
    for e in errors:
        print("FAIL: " + e)
    print("%d panels, %d expressions" % (len(ids), len(exprs)))
    return 1 if errors else 0


def rules_text(path):
    with open(path) as f:
        return f.read()


def cmd_recorded(rules, dash_path):
    text = rules_text(rules)
    defined = set(re.findall(r'^\s*- record:\s*(\S+)', text, re.M))
    with open(dash_path) as f:
        dash_text = "\n".join(dashboard_exprs(json.load(f)))
    used = set(RECORD.findall(text)) | set(RECORD.findall(dash_text))
    missing = sorted(used - defined)
    for m in missing:
        print("FAIL: %s is used but not recorded in %s" % (m, rules))
    print("%d recording rules, %d used" % (len(defined), len(used)))
    return 1 if missing else 0


def parse_metrics(path):
    """family -> type, and (sample name) -> list of label dicts."""
    types, samples = {}, {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                types[name] = kind
            elif line and not line.startswith("#"):
                m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ', line)
                if not m:
                    continue
                labels = dict((k, v) for k, _, v in
                              MATCHER.findall(m.group(3) or ""))
                samples.setdefault(m.group(1), []).append(labels)
    return types, samples


def family_of(name, types):
    if name in types:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)] if name.endswith(suffix) else None
        if base and types.get(base) == "histogram":
            return base
    return None


def cmd_served(metrics, rules, dash_path):
    types, samples = parse_metrics(metrics)
    with open(dash_path) as f:
        dash = json.load(f)
    texts = {rules: rules_text(rules),
             dash_path: json.dumps(dash) + "\n" + "\n".join(dashboard_exprs(dash))}
    errors, names, values = [], set(), set()
    for where, text in texts.items():
        for n in NAME.findall(text):
            names.add(n)
            if family_of(n, types) is None:
                errors.append("%s: %s is not served" % (where, n))
        scan = texts[rules] if where == rules else "\n".join(dashboard_exprs(dash))
        for sel_name, inner in SELECTOR.findall(scan):
            if not NAME.fullmatch(sel_name):
                continue
            for label, op, value in MATCHER.findall(inner):
                if op != "=" or label in OUTSIDE:
                    continue
                values.add((sel_name, label, value))
                have = samples.get(sel_name, [])
                if not any(s.get(label) == value for s in have):
                    errors.append('%s: %s{%s="%s"} is not served' %
                                  (where, sel_name, label, value))
    for e in sorted(set(errors)):
        print("FAIL: " + e)
    print("%d metric names and %d label values checked against %s" %
          (len(names), len(values), metrics))
    return 1 if errors else 0


def main(argv):
    if len(argv) == 4 and argv[1] == "dashboard":
        return cmd_dashboard(argv[2], argv[3])
    if len(argv) == 4 and argv[1] == "recorded":
        return cmd_recorded(argv[2], argv[3])
    if len(argv) == 5 and argv[1] == "served":
        return cmd_served(argv[2], argv[3], argv[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
