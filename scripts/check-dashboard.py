#!/usr/bin/env python3
"""Checks what cfn-lint sees only as strings: the dashboard body and the alarms' metrics.

    scripts/check-dashboard.py                   # exit 1 with one line per finding
    --template PATH                              # check PATH instead of template.yaml (YAML,
                                                 # or the JSON of check-template.py --json)

- The dashboard's DashboardBody is one Fn::Sub of a JSON text. Its ${...} name pseudo
  parameters, resources or parameters of the template only; substituted with sample values, it
  is valid JSON with a `widgets` list, each widget inside the 24-column grid.
- Metric widgets: in the stack's region; AWS/Lambda metrics of the function only; ghaec2
  metrics, directly or in a SEARCH('{ghaec2,Dim,...} MetricName="Name"', ...), are names src/
  emits (the `metrics::count`/`metrics::emit` calls) with dimensions those calls give them.
- Log widgets (Logs Insights): in the stack's region; the query reads the function's log group
  (SOURCE) and no other; every field it names is one src/ writes (a metric, its dimensions,
  the line's own keys in src/telemetry.rs, or a field of a `tracing` macro), and every
  `msg = '...'` is a message src/ logs.
- Alarms on ghaec2 metrics name metrics src/ emits, and the function's METRICS adds each of
  them under the alarms' condition, whatever the operator's list (even "none").

tests/dashboard.rs feeds it mutants of the real template. Needs PyYAML only.
"""

import argparse
import importlib.util
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src")

_spec = importlib.util.spec_from_file_location(
    "check_template", os.path.join(ROOT, "scripts", "check-template.py"))
check_template = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_template)

SAMPLE_PSEUDO = {
    "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws",
    "AWS::StackName": "ghaec2", "AWS::URLSuffix": "amazonaws.com",
}
# Lambda's own metrics of one function (the free, vended ones the dashboard may show).
LAMBDA_METRICS = {"Invocations", "Errors", "Duration", "Throttles", "ConcurrentExecutions"}
GRID_COLUMNS = 24
# Logs Insights words that are not fields (functions are recognised by their "(").
INSIGHTS_WORDS = {
    "fields", "filter", "stats", "sort", "limit", "display", "dedup", "parse", "by", "as", "asc",
    "desc", "and", "or", "not", "in", "like",
}
SEARCH = re.compile(r"""^SEARCH\('\{([^}]*)\}\s+MetricName="(\w+)"',\s*'\w+',\s*\d+\)$""")


# --- What src/ writes -----------------------------------------------------------------------

def rust_sources():
    for directory, _, files in os.walk(SRC):
        for name in sorted(files):
            if name.endswith(".rs"):
                with open(os.path.join(directory, name), encoding="utf-8") as f:
                    yield f.read()


def macro_arguments(text, opening):
    """The argument text of every macro call that `opening` (a regex ending in "(") starts."""
    for match in re.finditer(opening, text):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                yield text[start:i]
                break


class Emitted:
    """The metric names (with their dimension keys), log fields and messages src/ writes."""

    def __init__(self, sources):
        self.metrics = {}
        self.fields = set()
        self.messages = set()
        self.namespace = None
        for text in sources:
            for args in macro_arguments(text, r"\bmetrics::(?:count|emit)\("):
                name = re.match(r'\s*"(\w+)"', args)
                if name:
                    keys = re.findall(r'\(\s*"(\w+)"\s*,', args[name.end():])
                    self.metrics.setdefault(name.group(1), set()).update(keys)
            macros = r"\btracing::(?:trace|debug|info|warn|error|\w+_span)!\("
            for args in macro_arguments(text, macros):
                # Fields come before the message: `name = value`, `%name`, `?name` or `name`.
                args = re.sub(r'^\s*target\s*:\s*"[^"]*"\s*,', "", args)
                head, quote, rest = args.partition('"')
                self.fields.update(re.findall(r"(?<![\w.])([A-Za-z_]\w*)\s*=[^=]", head))
                self.fields.update(re.findall(r"(?:^|,)\s*[%?]?([A-Za-z_]\w*)\s*(?=,|$)", head))
                if quote:
                    self.messages.add(rest.split('"', 1)[0])
            namespace = re.search(r'pub const NAMESPACE: &str = "(\w+)";', text)
            if namespace:
                self.namespace = namespace.group(1)
            # The keys every line carries (src/telemetry.rs), `message` renamed to msg.
            if "impl Visit for Fields" in text:
                self.fields.update(re.findall(r'insert\(\s*"(\w+)"\.into\(\)', text))
                self.fields.update(re.findall(r'"message"\s*=>\s*"(\w+)"', text))
        # The EMF field's members are lifted to the top level; the field itself is not kept.
        self.fields.discard("emf")
        for name, keys in self.metrics.items():
            self.fields.add(name)
            self.fields.update(keys)


# --- The template ---------------------------------------------------------------------------

def resources_of(template, kind):
    return {n: r for n, r in template["Resources"].items() if r["Type"] == kind}


def the_function(template):
    functions = resources_of(template, "AWS::Serverless::Function")
    if len(functions) != 1:
        raise SystemExit(f"check-dashboard: expected one function, found {sorted(functions)}")
    return next(iter(functions.items()))


def sample(name, template):
    """A stand-in for what CloudFormation substitutes for ${name}."""
    if name in SAMPLE_PSEUDO:
        return SAMPLE_PSEUDO[name]
    if name.split(".")[0] in template["Resources"]:
        return "sample-" + name.replace(".", "-")
    parameter = template.get("Parameters", {}).get(name)
    if parameter is not None and "Default" in parameter:
        return str(parameter["Default"])
    return None


def substitute(sub, template, finding):
    """The text of a Fn::Sub with sample values; None when it is not a one-string Fn::Sub."""
    if not isinstance(sub, str):
        finding(f"DashboardBody is not one Fn::Sub of a JSON text: {json.dumps(sub)[:80]}")
        return None

    def value(match):
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        text = sample(name, template)
        if text is None:
            finding(f"DashboardBody names ${{{name}}}, which is no resource, pseudo parameter "
                    "or parameter with a default")
            return "?"
        return text

    return re.sub(r"\$\{([^}]+)\}", value, sub)


# --- The checks -----------------------------------------------------------------------------

def check_ghaec2_metric(name, dimensions, emitted, where, finding):
    if name not in emitted.metrics:
        finding(f"{where}: metric {name} is not emitted in src/ (metrics::count/emit)")
    elif not set(dimensions) <= emitted.metrics[name]:
        finding(f"{where}: {name} has no dimension {sorted(set(dimensions) - emitted.metrics[name])} "
                f"in src/ (it has {sorted(emitted.metrics[name])})")


def check_metric_widget(properties, where, function, emitted, finding):
    for row in properties.get("metrics", []):
        options = row[-1] if row and isinstance(row[-1], dict) else {}
        plain = row[:-1] if options else row
        if not plain and "expression" in options:
            search = SEARCH.match(options["expression"])
            if not search:
                finding(f"{where}: expression {options['expression']!r} is not a "
                        "SEARCH('{Namespace,Dim,...} MetricName=\"Name\"', 'Stat', period)")
                continue
            namespace, *dimensions = [p.strip() for p in search.group(1).split(",")]
            if namespace != emitted.namespace:
                finding(f"{where}: SEARCH in namespace {namespace}, not {emitted.namespace}")
            check_ghaec2_metric(search.group(2), dimensions, emitted, where, finding)
            continue
        if len(plain) < 2 or len(plain) % 2 or not all(isinstance(p, str) for p in plain):
            finding(f"{where}: metric row {row!r} is not [namespace, name, (dimension, value)...]")
            continue
        namespace, name, pairs = plain[0], plain[1], dict(zip(plain[2::2], plain[3::2]))
        if namespace == "AWS/Lambda":
            if name not in LAMBDA_METRICS:
                finding(f"{where}: AWS/Lambda metric {name} is not one of {sorted(LAMBDA_METRICS)}")
            if pairs != {"FunctionName": function}:
                finding(f"{where}: AWS/Lambda {name} not of the function alone: {pairs}")
        elif namespace == emitted.namespace:
            check_ghaec2_metric(name, pairs, emitted, where, finding)
        else:
            finding(f"{where}: namespace {namespace} is neither AWS/Lambda nor {emitted.namespace}")


def query_fields(query):
    """(sources, fields, msg literals) of a Logs Insights query."""
    sources = re.findall(r"SOURCE\s+'([^']*)'", query)
    body = re.sub(r"SOURCE\s+'[^']*'\s*\|?", "", query)
    messages = re.findall(r"\bmsg\s*=\s*'([^']*)'", body)
    body = re.sub(r"'[^']*'|\"[^\"]*\"|/[^/]*/", " ", body)
    aliases = set(re.findall(r"\bas\s+(\w+)", body))
    words = re.findall(r"(?<![\w@.])([A-Za-z_][\w.]*)(\s*\()?", body)
    fields = {w for w, call in words if not call and w.lower() not in INSIGHTS_WORDS} - aliases
    return sources, fields, messages


def check_log_widget(properties, where, log_group, emitted, finding):
    query = properties.get("query", "")
    sources, fields, messages = query_fields(query)
    if not query.startswith("SOURCE '") or sources != [log_group]:
        finding(f"{where}: query reads {sources}, not the function's log group alone "
                f"(SOURCE '{log_group}')")
    for name in sorted(fields - emitted.fields):
        finding(f"{where}: query field {name} is not written by src/")
    for message in messages:
        if message not in emitted.messages:
            finding(f"{where}: msg = '{message}' is not a message src/ logs")


def check_dashboard(name, resource, template, emitted, finding):
    function_name, function = the_function(template)
    log_group = function["Properties"].get("LoggingConfig", {}).get("LogGroup", {})
    if not (isinstance(log_group, dict) and "Ref" in log_group):
        finding(f"{function_name} has no LoggingConfig.LogGroup of the stack")
        return
    body = resource["Properties"].get("DashboardBody", {})
    text = substitute(body.get("Fn::Sub") if isinstance(body, dict) else body, template,
                      lambda t: finding(f"{name}: {t}"))
    if text is None:
        return
    try:
        dashboard = json.loads(text)
    except json.JSONDecodeError as e:
        finding(f"{name}: DashboardBody is not JSON after substitution: {e}")
        return
    widgets = dashboard.get("widgets") if isinstance(dashboard, dict) else None
    if not isinstance(widgets, list) or not widgets:
        finding(f"{name}: DashboardBody has no widgets list")
        return
    for i, widget in enumerate(widgets):
        properties = widget.get("properties", {})
        where = f"{name} widget {i} ({properties.get('title', 'untitled')})"
        if widget.get("x", 0) + widget.get("width", 6) > GRID_COLUMNS:
            finding(f"{where}: wider than the {GRID_COLUMNS}-column grid")
        if properties.get("region") != SAMPLE_PSEUDO["AWS::Region"]:
            finding(f"{where}: region {properties.get('region')!r}, not ${{AWS::Region}}")
        if widget.get("type") == "metric":
            check_metric_widget(properties, where, sample(function_name, template), emitted,
                                finding)
        elif widget.get("type") == "log":
            check_log_widget(properties, where, sample(log_group["Ref"], template), emitted,
                             finding)
        else:
            finding(f"{where}: type {widget.get('type')!r}, expected metric or log")


def published_with(condition, template):
    """The metric names METRICS always carries when `condition` holds: the words of its
    Fn::If branch for that condition, after ${Metrics} (the operator's list, maybe "none")."""
    _, function = the_function(template)
    metrics = function["Properties"]["Environment"]["Variables"].get("METRICS")
    if not (isinstance(metrics, dict) and "Fn::If" in metrics):
        return set()
    branch_condition, when, _ = metrics["Fn::If"]
    text = when.get("Fn::Sub", "") if isinstance(when, dict) else ""
    if branch_condition != condition or not isinstance(text, str):
        return set()
    return {word for word in text.split(",") if not word.startswith("${")}


def check_alarm(name, resource, template, emitted, finding):
    properties = resource["Properties"]
    stats = [properties] + [m["MetricStat"]["Metric"] for m in properties.get("Metrics", [])
                            if "MetricStat" in m]
    for metric in stats:
        if metric.get("Namespace") == emitted.namespace:
            # Dimensionless is always there: src/metrics.rs publishes a dimensioned metric
            # without its dimensions too.
            dimensions = [d["Name"] for d in metric.get("Dimensions", [])]
            check_ghaec2_metric(metric.get("MetricName"), dimensions, emitted, name, finding)
            if metric.get("MetricName") not in published_with(resource.get("Condition"), template):
                finding(f"{name}: {metric.get('MetricName')} is not added to the function's "
                        f"METRICS under the alarm's condition {resource.get('Condition')}, so "
                        "METRICS may not publish it")


def review(template, emitted):
    findings = []
    for name, resource in resources_of(template, "AWS::CloudWatch::Dashboard").items():
        check_dashboard(name, resource, template, emitted, findings.append)
    for name, resource in resources_of(template, "AWS::CloudWatch::Alarm").items():
        check_alarm(name, resource, template, emitted, findings.append)
    return findings


def main(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", default=check_template.TEMPLATE,
                        help="template to read (YAML or JSON)")
    args = parser.parse_args(argv[1:])
    template = check_template.load_template(args.template)
    emitted = Emitted(rust_sources())
    if not emitted.metrics or emitted.namespace is None:
        print("check-dashboard: found no metrics::count/emit call or NAMESPACE in src/",
              file=sys.stderr)
        return 1
    findings = review(template, emitted)
    for line in findings:
        print(f"check-dashboard: {line}", file=sys.stderr)
    if findings:
        print(f"check-dashboard: {len(findings)} finding(s)", file=sys.stderr)
        return 1
    print(f"check-dashboard: dashboard and alarms name only what src/ emits "
          f"({len(emitted.metrics)} metrics)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
