#!/usr/bin/env python3
"""Checks template.yaml beyond what cfn-lint and `sam validate` know: the IAM review.

    scripts/check-template.py            # the review; exit 1 with one line per finding
    scripts/check-template.py --json     # template.yaml (short-form tags expanded) and the
                                         # samconfig.toml parameter overrides, as JSON
    --template PATH                      # review (or dump) PATH instead of template.yaml;
                                         # YAML or JSON (tests/iam_review.rs feeds mutants)

The review (issue 6, item 7), over every IAM statement in the template (actions compared
ignoring case, as IAM does):
- no action wildcard (`*`, `?`) except read-only `ec2:Describe*`; no NotAction/NotResource;
  no managed policy or SAM policy template on the function (only reviewable statements);
- on Resource "*" (or an ARN whose resource part is "*") only read-only actions;
- mutating EC2 actions on instances, and on launch templates (launching aside), carry a ghaec2
  tag condition (RequestTag, ResourceTag or ec2:CreateAction);
- EC2 ARNs name the stack's account, except subnets and security groups (any account: a VPC
  shared through RAM) and images and snapshots (no account: public or shared);
- DynamoDB only on the state table; the runner role only GetItem/DeleteItem of its own JIT
  item (dynamodb:LeadingKeys = jit#${ec2:SourceInstanceARN}), and PutItem there of exactly the
  boot-failure attributes;
- SSM only on the configured secret parameters and the public /aws/service/ path;
- KMS only on the configured key parameters, only through a service of this partition
  (kms:ViaService = <service>.${AWS::Region}.${AWS::URLSuffix}), grants only for AWS resources;
- iam:PassRole only for the runner role and the listed roles of the scale sets' own instance
  profiles, only to EC2 (the Partitions mapping's principals);
- a parameter that names a resource (Ref, or ${Name} in Fn::Sub) has an AllowedPattern that
  refuses wildcards (`*`, `?` alone, after, or in place of any part of an ARN or path), so no
  parameter value can widen a statement to every role, key or parameter;
- no hard-coded amazonaws.com in a statement or trust policy: names that differ by partition
  come from the Partitions mapping or ${AWS::URLSuffix};
- no plaintext secret: the function never sets GITHUB_TOKEN or GITHUB_APP_PRIVATE_KEY.

tests/template.rs reads the --json output and checks what ties the template to the Rust code
(key schema, TTL attribute, environment variable names, timeout vs drain window).
Needs PyYAML only (cfn-lint brings it into the venv).
"""

import argparse
import json
import os
import re
import sys
import tomllib

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE = os.path.join(ROOT, "template.yaml")
SAMCONFIG = os.path.join(ROOT, "samconfig.toml")


# --- Loading ---------------------------------------------------------------------------------

class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short-form tags (!Ref, !Sub, !GetAtt, …) into their
    long form ({"Ref": …}, {"Fn::Sub": …}), as CloudFormation itself does."""


def _construct_tag(loader, tag_suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    return {"Fn::" + tag_suffix: value}


CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path=TEMPLATE):
    with open(path, encoding="utf-8") as f:
        if path.endswith(".json"):
            return json.load(f)  # what --json printed; far faster than YAML for the tests
        return yaml.load(f, Loader=CfnLoader)


def samconfig_overrides(path=SAMCONFIG):
    """The default environment's deploy parameter_overrides as a dict."""
    with open(path, "rb") as f:
        config = tomllib.load(f)
    raw = config["default"]["deploy"]["parameters"].get("parameter_overrides", [])
    items = raw if isinstance(raw, list) else raw.split()
    return dict(item.split("=", 1) for item in items)


# --- The IAM review --------------------------------------------------------------------------

READ_ONLY_VERBS = ("describe", "get", "list")
RUNNER_ROLE = "RunnerRole"
STATE_TABLE = "StateTable"
SECRET_PARAMETERS = ("GitHubTokenSsmParameter", "GitHubAppPrivateKeySsmParameter")
# The SSM parameters the function may read: the secrets, the CA bundle and the scale set list
# (not secret).
READABLE_PARAMETERS = SECRET_PARAMETERS + ("GitHubCaBundleSsmParameter", "ScaleSetsSsmParameter")
KMS_KEY_PARAMETERS = ("SecretsKmsKeyArn", "Ec2EbsKmsKeyId", "ScaleSetEbsKmsKeyArns")
# The roles the function may pass besides the runner role it creates: the one inside your own
# Ec2InstanceProfile, and those inside the scale sets' own profiles.
PASS_ROLE_PARAMETERS = ("Ec2InstanceProfileRoleArn", "ScaleSetInstanceProfileRoleArns")
# Values a resource-naming parameter must refuse: a wildcard alone, after, or in place of each
# part of a role ARN, a key ARN and a parameter path.
WILDCARD_SAMPLES = (
    "arn:aws:iam::123456789012:role/path/runner",
    "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "/ghaec2/github-token",
)
# KMS actions the function may have: decrypting secrets through SSM, and what EC2 needs of a
# key to encrypt a volume for the caller. No Encrypt, no plaintext data keys.
KMS_ACTIONS = {
    "kms:creategrant", "kms:decrypt", "kms:describekey", "kms:generatedatakeywithoutplaintext",
    "kms:reencryptfrom", "kms:reencryptto",
}
# The runner role's own JIT item: read and delete it, or record a boot failure in its partition.
RUNNER_JIT_ACTIONS = {"dynamodb:getitem", "dynamodb:deleteitem"}
RUNNER_OWN_PARTITION = "jit#${ec2:SourceInstanceARN}"
BOOT_FAILURE_ATTRIBUTES = {
    "pk", "sk", "reason", "instance_id", "scale_set_name", "expires_at_epoch",
}
# EC2 resource types whose ARN may name another account, and which account field they may have.
OTHER_ACCOUNT_EC2_TYPES = {"subnet": "*", "security-group": "*", "image": "", "snapshot": ""}
EC2_PRINCIPALS = {"Fn::FindInMap": ["Partitions", {"Ref": "AWS::Partition"}, "Ec2Principals"]}
VIA_SERVICE_SUFFIX = ".${AWS::Region}.${AWS::URLSuffix}"


def as_list(value):
    return value if isinstance(value, list) else [value]


def strip_if(value):
    """The non-empty branches of Fn::If values, recursively; drops AWS::NoValue."""
    if isinstance(value, dict) and "Fn::If" in value:
        _, yes, no = value["Fn::If"]
        return strip_if(yes) + strip_if(no)
    if value == {"Ref": "AWS::NoValue"}:
        return []
    if isinstance(value, list):
        return [v for item in value for v in strip_if(item)]
    return [value]


LAUNCH_ACTIONS = {"ec2:createfleet", "ec2:runinstances"}


def is_read_only(action):
    service, _, verb = action.lower().partition(":")
    return verb.startswith(READ_ONLY_VERBS) and not (service == "ssm" and verb == "*")


def sub_text(resource):
    """The text of a resource: the string, or a Fn::Sub template."""
    if isinstance(resource, str):
        return resource
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return None


def is_get_att(resource, logical_id):
    return isinstance(resource, dict) and resource.get("Fn::GetAtt", [None])[0] == logical_id


def statements(template):
    """(where, statement) for every IAM statement: SAM function Policies, IAM role policies."""
    for name, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            policies = strip_if(props.get("Policies", []))
            documents = [p for p in policies if isinstance(p, dict) and "Statement" in p]
        elif resource["Type"] == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [props["PolicyDocument"]]
        else:
            continue
        for document in documents:
            for statement in strip_if(document["Statement"]):
                yield name, statement


def unreviewable_policies(template):
    """Function policies the review cannot see into: managed policy names or ARNs and SAM policy
    templates (e.g. AdministratorAccess, DynamoDBCrudPolicy); they would grant unreviewed."""
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for policy in strip_if(resource.get("Properties", {}).get("Policies", [])):
            if not (isinstance(policy, dict) and "Statement" in policy):
                yield name, policy


def arn_fields(text):
    """(service, region, account, resource) of an ARN, pseudo parameters first replaced by
    <Name> since ${AWS::Partition} holds colons; None for something that is not an ARN."""
    plain = re.sub(r"\$\{AWS::([A-Za-z]+)\}", r"<\1>", text)
    parts = plain.split(":", 5)
    return tuple(parts[2:]) if len(parts) == 6 and parts[0] == "arn" else None


def arn_resource_part(text):
    """The resource part of an ARN (after the fifth colon); None for a non-ARN."""
    fields = arn_fields(text)
    return fields[3] if fields else None


def foreign_ec2_arn(resource):
    """The resource type of an EC2 ARN that names another account than the stack's where
    OTHER_ACCOUNT_EC2_TYPES does not allow it, else None."""
    fields = arn_fields(sub_text(resource) or "")
    if not fields or fields[0] != "ec2":
        return None
    account, kind = fields[2], re.split(r"[/:]", fields[3])[0]
    if account == "<AccountId>" or OTHER_ACCOUNT_EC2_TYPES.get(kind) == account:
        return None
    return kind


def wildcard_probes():
    for wild in "*?":
        yield wild
        for sample in WILDCARD_SAMPLES:
            yield sample + wild
            parts = re.split(r"([:/])", sample)  # fields at even indexes, separators between
            for i in range(0, len(parts), 2):
                yield "".join(parts[:i] + [wild] + parts[i + 1:])


def resource_parameters(resource, parameters):
    """The template parameters a resource takes its value from: a Ref, or ${Name} in a Fn::Sub
    template (pseudo parameters and resources aside)."""
    if isinstance(resource, dict) and "Ref" in resource:
        names = [resource["Ref"]]
    else:
        names = re.findall(r"\$\{([A-Za-z0-9]+)\}", sub_text(resource) or "")
    return [name for name in names if name in parameters]


def admitted_wildcard(parameter):
    """A wildcard value the parameter's AllowedPattern admits (all of them without one), else
    None. CloudFormation matches the whole value, each item of a CommaDelimitedList."""
    pattern = parameter.get("AllowedPattern")
    if pattern is None:
        return "*"
    return next((p for p in wildcard_probes() if re.fullmatch(pattern, p)), None)


def literal_strings(value):
    """Every string in a (nested) policy value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from literal_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from literal_strings(item)


def is_everything(resource):
    """Resource "*", or an ARN granting every resource of its service ("arn:…:ec2:r:a:*")."""
    text = sub_text(resource)
    return text == "*" or (text is not None and arn_resource_part(text) == "*")


def condition_keys(statement):
    return {key for operator in statement.get("Condition", {}).values() for key in operator}


def condition(statement, operator, key):
    return statement.get("Condition", {}).get(operator, {}).get(key)


def trust_statements(template):
    """(role, statement) of every role's trust policy."""
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            document = resource.get("Properties", {}).get("AssumeRolePolicyDocument", {})
            for statement in strip_if(document.get("Statement", [])):
                yield name, statement


def review_runner_dynamodb(actions, statement, finding):
    """The runner role's DynamoDB statement: Get/Delete, or PutItem of a boot failure, both
    only in its own partition."""
    verbs = {a.lower() for a in actions}
    if verbs == {"dynamodb:putitem"}:
        attributes = condition(statement, "ForAllValues:StringEquals", "dynamodb:Attributes")
        if set(as_list(attributes or [])) != BOOT_FAILURE_ATTRIBUTES:
            finding(f"runner role PutItem not limited to the boot-failure attributes "
                    f"{sorted(BOOT_FAILURE_ATTRIBUTES)}")
    elif verbs - RUNNER_JIT_ACTIONS:
        finding(f"runner role may {actions}: only GetItem/DeleteItem, or PutItem alone")
    leading = condition(statement, "ForAllValues:StringEquals", "dynamodb:LeadingKeys")
    if as_list(leading or []) != [RUNNER_OWN_PARTITION]:
        finding(f"runner role not limited to {RUNNER_OWN_PARTITION}")


def review_kms(action, canonical, resources, statement, finding):
    if canonical not in KMS_ACTIONS:
        finding(f"unexpected KMS action {action}")
    if not all(r in [{"Ref": p} for p in KMS_KEY_PARAMETERS] for r in resources):
        finding(f"{action} on {resources!r}, not a configured key")
    via = sub_text(condition(statement, "StringEquals", "kms:ViaService") or "") or ""
    if not via.endswith(VIA_SERVICE_SUFFIX):
        finding(f"{action} without kms:ViaService <service>{VIA_SERVICE_SUFFIX}")
    if canonical == "kms:creategrant" and \
            condition(statement, "Bool", "kms:GrantIsForAWSResource") not in ("true", True):
        finding("kms:CreateGrant without kms:GrantIsForAWSResource true")


def review(template):
    findings = []

    def finding(where, statement, text):
        findings.append(f"{where}/{statement.get('Sid', '?')}: {text}")

    for where, st in list(statements(template)) + list(trust_statements(template)):
        if any("amazonaws.com" in text for text in literal_strings(st)):
            finding(where, st, "hard-coded amazonaws.com; per-partition names come from the "
                    "Partitions mapping or ${AWS::URLSuffix}")
    for name, policy in unreviewable_policies(template):
        findings.append(f"{name}: policy {policy!r} is not an inline statement list")
    for where, st in statements(template):
        if st.get("Effect") != "Allow":
            continue
        for negated in ("NotAction", "NotResource"):
            if negated in st:
                finding(where, st, f"{negated} grants everything not listed")
        actions = as_list(st.get("Action", []))
        resources = strip_if(st.get("Resource", []))
        keys = condition_keys(st)
        for action in actions:
            # IAM action names ignore case: compare lower-cased, report as written.
            service, _, verb = action.lower().partition(":")
            canonical = f"{service}:{verb}"
            if ("*" in action or "?" in action) and canonical != "ec2:describe*":
                finding(where, st, f"action wildcard {action}")
            if any(is_everything(r) for r in resources) and not is_read_only(canonical):
                finding(where, st, f"{action} on Resource '*'")
            if service == "ec2" and not is_read_only(canonical):
                on_instances = any(
                    (arn_resource_part(sub_text(r) or "") or "").startswith("instance")
                    for r in resources
                )
                tagged = any(
                    k.startswith(("aws:RequestTag/ghaec2:", "ec2:ResourceTag/ghaec2:"))
                    or k == "ec2:CreateAction"
                    for k in keys
                )
                if on_instances and not tagged:
                    finding(where, st, f"{action} on instances without a ghaec2 tag condition")
                # Launching reads a template; anything else changes it (its user-data, role).
                on_templates = any(
                    (arn_resource_part(sub_text(r) or "") or "").startswith("launch-template")
                    for r in resources
                )
                if on_templates and canonical not in LAUNCH_ACTIONS and not tagged:
                    finding(
                        where, st, f"{action} on launch templates without a ghaec2 tag condition"
                    )
                if any(sub_text(r) and ":ec2:*" in sub_text(r) for r in resources):
                    finding(where, st, f"{action} not scoped to the stack's region")
                for kind in filter(None, map(foreign_ec2_arn, resources)):
                    finding(where, st, f"{action} on {kind} of another account")
            if service == "dynamodb" and not all(is_get_att(r, STATE_TABLE) for r in resources):
                finding(where, st, f"{action} on something other than the state table")
            if service == "ssm":
                for r in resources:
                    text = sub_text(r) or ""
                    allowed = text.endswith(":parameter/aws/service/*") or any(
                        text.endswith(":parameter${%s}" % p) for p in READABLE_PARAMETERS
                    )
                    if not allowed:
                        finding(where, st, f"{action} on {r!r}")
            if service == "kms":
                review_kms(action, canonical, resources, st,
                           lambda text: finding(where, st, text))
            if canonical == "iam:passrole":
                if not all(is_get_att(r, RUNNER_ROLE)
                           or r in [{"Ref": p} for p in PASS_ROLE_PARAMETERS]
                           for r in resources):
                    finding(where, st, f"iam:PassRole for {resources!r}, not the runner role")
                if condition(st, "StringEquals", "iam:PassedToService") != EC2_PRINCIPALS:
                    finding(where, st, "iam:PassRole without iam:PassedToService of the "
                            "Partitions mapping's Ec2Principals")
            if service == "iam" and canonical not in ("iam:passrole", "iam:createservicelinkedrole"):
                finding(where, st, f"unexpected IAM action {action}")
            if canonical == "iam:createservicelinkedrole" and "iam:AWSServiceName" not in keys:
                finding(where, st, "iam:CreateServiceLinkedRole without iam:AWSServiceName")
        parameters = template.get("Parameters", {})
        for name in {n for r in resources for n in resource_parameters(r, parameters)}:
            wildcard = admitted_wildcard(parameters[name])
            if wildcard is not None:
                finding(where, st, f"resource from parameter {name}, whose AllowedPattern "
                        f"admits the wildcard {wildcard!r}")
        if where == RUNNER_ROLE and any(a.lower().startswith("dynamodb:") for a in actions):
            review_runner_dynamodb(actions, st, lambda text: finding(where, st, text))

    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        env = resource["Properties"].get("Environment", {}).get("Variables", {})
        for secret in ("GITHUB_TOKEN", "GITHUB_APP_PRIVATE_KEY"):
            if secret in env:
                findings.append(f"{name}: sets {secret}; secrets go through SSM parameter names")
    for name, parameter in template["Parameters"].items():
        lowered = name.lower()
        if ("token" in lowered or "privatekey" in lowered) and not name.endswith("SsmParameter"):
            findings.append(f"parameter {name} looks like a plaintext secret")
    return findings


def main(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="dump instead of reviewing")
    parser.add_argument("--template", default=TEMPLATE, help="template to read (YAML or JSON)")
    args = parser.parse_args(argv[1:])
    template = load_template(args.template)
    if args.json:
        json.dump({"template": template, "samconfig_overrides": samconfig_overrides()},
                  sys.stdout, indent=1)
        print()
        return 0
    findings = review(template)
    for line in findings:
        print(f"check-template: {line}", file=sys.stderr)
    count = sum(1 for _ in statements(template))
    if findings:
        print(f"check-template: {len(findings)} finding(s) in {count} IAM statements", file=sys.stderr)
        return 1
    print(f"check-template: IAM review passed ({count} statements)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
