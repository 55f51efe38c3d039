"""The Python peer of the benchmark: what a user would otherwise write to delete a Supply Chain instance.

Run by the official runtime interface client, as the Python managed runtime does:
    python -m awslambdaric handler.handler
The client is created once at init (the usual practice); each invocation makes the one
DeleteInstance call and returns the instance record, as the Rust function does.
"""

import boto3

client = boto3.client("supplychain")


def handler(event, context):
    instance = client.delete_instance(instanceId=event["instanceId"])["instance"]
    return {
        "instance": {
            name: value.isoformat() if hasattr(value, "isoformat") else value
            for name, value in instance.items()
        }
    }
