"""Offline checks of template.yaml, for tests/it/template/.

  template_check.py transform TEMPLATE
      Prints the CloudFormation template that aws-sam-translator makes of TEMPLATE (JSON), with the
      local CodeUri and DefinitionUri replaced by S3 locations, as `sam package` does before deploying.

  template_check.py match-events TEMPLATE EVENTS_JSON
      EVENTS_JSON is {"name": event, ...}. Prints {"rule logical id": {"name": bool, ...}, ...}: whether
      each event matches the pattern of each AWS::Events::Rule of the transformed template, decided by
      moto's EventBridge pattern matcher, with the stack deployed in account 123456789012 (the
      fixtures' account): a pattern's `Ref: AWS::AccountId` is that account.

Exits 1 with the reason on standard error when the template cannot be read or transformed.
"""

import copy
import json
import os
import sys

from cfnlint.decode import decode
from moto.events.models import EventPattern
from samtranslator.public.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform

# The translator asks a boto3 session for the region to fill in AWS::Region; none is configured here.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


class NoManagedPolicies:
    """The translator looks managed policy names up in IAM; this template names none."""

    def load(self):
        return {}


def plain(node):
    """cfn-lint's decoded nodes as plain dicts, lists and strings."""
    return json.loads(json.dumps(node))


def load(path):
    template, matches = decode(path)
    if matches:
        raise SystemExit(f"{path}: " + "; ".join(str(m) for m in matches))
    return plain(template)


def packaged(template):
    """What `sam package` does: local code and definition paths become S3 locations."""
    template = copy.deepcopy(template)
    code_uri = template.get("Globals", {}).get("Function", {}).get("CodeUri")
    if isinstance(code_uri, str):
        template["Globals"]["Function"]["CodeUri"] = f"s3://package-bucket/{code_uri.strip('./') or 'code'}.zip"
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(properties.get("CodeUri"), str):
            properties["CodeUri"] = "s3://package-bucket/code.zip"
        if resource.get("Type") == "AWS::Serverless::StateMachine" and isinstance(properties.get("DefinitionUri"), str):
            properties["DefinitionUri"] = f"s3://package-bucket/{properties['DefinitionUri']}"
    return template


def transformed(path):
    try:
        return plain(transform(packaged(load(path)), {}, NoManagedPolicies()))
    except InvalidDocumentException as error:
        reasons = "; ".join(cause.message for cause in error.causes)
        raise SystemExit(f"{path}: aws-sam-translator refused the template: {reasons}")


# The account the stack is deployed in, for a pattern's `Ref: AWS::AccountId`: the fixtures' (and
# testkit's ACCOUNT).
ACCOUNT_ID = "123456789012"


def deployed_pattern(logical_id, node):
    """A rule's pattern as deployed: `Ref: AWS::AccountId` is the stack's account. Any other
    intrinsic function is refused, since moto's matcher would read it as a filter that matches."""
    if isinstance(node, dict):
        if node == {"Ref": "AWS::AccountId"}:
            return ACCOUNT_ID
        intrinsic = [key for key in node if key == "Ref" or key.startswith("Fn::")]
        if intrinsic:
            raise SystemExit(f"{logical_id}: the pattern holds {node}, which this check cannot resolve")
        return {key: deployed_pattern(logical_id, value) for key, value in node.items()}
    if isinstance(node, list):
        return [deployed_pattern(logical_id, item) for item in node]
    return node


def match_events(path, events):
    template = transformed(path)
    results = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Events::Rule":
            continue
        pattern = EventPattern.load(json.dumps(deployed_pattern(logical_id, resource["Properties"]["EventPattern"])))
        results[logical_id] = {name: pattern.matches_event(event) for name, event in events.items()}
    return results


def main(argv):
    if len(argv) == 3 and argv[1] == "transform":
        json.dump(transformed(argv[2]), sys.stdout, indent=1, sort_keys=True)
    elif len(argv) == 4 and argv[1] == "match-events":
        with open(argv[3], encoding="utf-8") as file:
            events = json.load(file)
        json.dump(match_events(argv[2], events), sys.stdout, indent=1, sort_keys=True)
    else:
        raise SystemExit(__doc__)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
