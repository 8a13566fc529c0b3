"""The synthesized CDK stack, offline: Function URLs and invoke modes, tables matching the AWS store, the bucket's
protection and lifecycle, IAM scoped to the stack's own resources, logs, alarms and the secrets toggle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.options import StackOptionError, StackOptions, options_from_context
from tests.infra.synth import ACCOUNT, REGION, function_properties, of_type, synth_template

pytestmark = pytest.mark.infra

SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:headroom-keys-AbCdEf"
ALARM_EMAIL = "oncall@example.com"


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """Two stacks synthesized once: the default (caller keys, public URLs) and a locked-down one."""
    yield {
        "default": synth_template(tmp_path_factory.mktemp("default")),
        "locked": synth_template(
            tmp_path_factory.mktemp("locked"),
            stage="prod",
            url_auth="AWS_IAM",
            provider_keys="secret",
            secret_arn=SECRET_ARN,
            reserved_concurrency=50,
            memory_mb=2048,
            timeout_s=600,
            log_retention_days=90,
            ccr_ttl_s=3 * 86400 + 1,
            alarm_email=ALARM_EMAIL,
        ),
    }


def _logical_id(template: dict[str, Any], handler: str) -> str:
    (name,) = [
        name
        for name, res in of_type(template, "AWS::Lambda::Function").items()
        if res["Properties"]["Handler"] == handler
    ]
    return name


def test_two_function_urls_buffered_api_and_streaming_proxy(templates: dict[str, dict[str, Any]]) -> None:
    template = templates["default"]
    urls = {
        res["Properties"]["TargetFunctionArn"]["Fn::GetAtt"][0]: res["Properties"]
        for res in of_type(template, "AWS::Lambda::Url").values()
    }
    api, proxy = _logical_id(template, "handlers.api.handler"), _logical_id(template, "handlers/stream/run.sh")
    assert urls[api]["InvokeMode"] == "BUFFERED"
    assert urls[proxy]["InvokeMode"] == "RESPONSE_STREAM"
    assert {url["AuthType"] for url in urls.values()} == {"NONE"}
    public = [
        res["Properties"]
        for res in of_type(template, "AWS::Lambda::Permission").values()
        if res["Properties"]["Principal"] == "*"
    ]
    assert {p["Action"] for p in public} == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    assert all(p.get("FunctionUrlAuthType") == "NONE" or p.get("InvokedViaFunctionUrl") is True for p in public)


def test_streaming_function_runs_the_web_adapter(templates: dict[str, dict[str, Any]]) -> None:
    proxy = function_properties(templates["default"], "handlers/stream/run.sh")
    env = proxy["Environment"]["Variables"]
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert env["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert env["AWS_LWA_READINESS_CHECK_PATH"] == "/readyz"
    assert env["AWS_LWA_PORT"] == env["HEADROOM_PORT"]
    adapter = json.dumps(proxy["Layers"])
    assert "753240598075:layer:LambdaAdapterLayerX86" in adapter and "AWS::Region" in adapter
    api = function_properties(templates["default"], "handlers.api.handler")
    assert "LambdaAdapterLayer" not in json.dumps(api["Layers"]) and len(api["Layers"]) == 1


def test_functions_use_the_aws_store_and_the_context_choices(templates: dict[str, dict[str, Any]]) -> None:
    default = function_properties(templates["default"], "handlers.api.handler")
    assert default["Runtime"] == "python3.12" and default["Architectures"] == ["x86_64"]
    assert default["MemorySize"] == 1024 and default["Timeout"] == 900
    assert "ReservedConcurrentExecutions" not in default
    env = default["Environment"]["Variables"]
    assert env["HEADROOM_STORE"] == "aws" and env["HEADROOM_AWS_TABLE_PREFIX"] == "headroom-dev"
    assert env["HEADROOM_AWS_BUCKET"] == {"Ref": next(iter(of_type(templates["default"], "AWS::S3::Bucket")))}
    locked = function_properties(templates["locked"], "handlers/stream/run.sh")
    assert locked["MemorySize"] == 2048 and locked["Timeout"] == 600
    assert locked["ReservedConcurrentExecutions"] == 50
    assert locked["Environment"]["Variables"]["HEADROOM_AWS_TABLE_PREFIX"] == "headroom-prod"


def test_tables_match_the_store_key_schema_with_ttl_and_pitr(templates: dict[str, dict[str, Any]]) -> None:
    tables = {
        res["Properties"]["TableName"]: res["Properties"]
        for res in of_type(templates["default"], "AWS::DynamoDB::Table").values()
    }
    names = {f"headroom-dev-{n}" for n in ("counters", "savings", "responses", "conversations", "toin")}
    assert set(tables) == names
    for name, table in tables.items():
        keys = {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]}
        with_sort = name.rsplit("-", 1)[1] in {"savings", "responses", "conversations"}
        assert keys == ({"pk": "HASH", "sk": "RANGE"} if with_sort else {"pk": "HASH"})
        assert {a["AttributeType"] for a in table["AttributeDefinitions"]} == {"S"}
        assert table["BillingMode"] == "PAY_PER_REQUEST"
        assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["SSESpecification"]["SSEEnabled"] is True
        expiring = name.rsplit("-", 1)[1] in {"counters", "responses", "conversations"}
        ttl = table.get("TimeToLiveSpecification")
        assert ttl == ({"AttributeName": "expires_at", "Enabled": True} if expiring else None)


def test_bucket_is_private_encrypted_tls_only_and_expires_blobs(templates: dict[str, dict[str, Any]]) -> None:
    for key, days in (("default", 7), ("locked", 4)):
        template = templates[key]
        (bucket,) = [res["Properties"] for res in of_type(template, "AWS::S3::Bucket").values()]
        assert bucket["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        assert sse["SSEAlgorithm"] == "AES256"
        rules = bucket["LifecycleConfiguration"]["Rules"]
        expiry = {r["Prefix"]: r["ExpirationInDays"] for r in rules if "Prefix" in r}
        assert expiry == {"ccr/": days, "responses/": days}
        (policy,) = [res["Properties"] for res in of_type(template, "AWS::S3::BucketPolicy").values()]
        (deny,) = policy["PolicyDocument"]["Statement"]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def _statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for res in of_type(template, "AWS::IAM::Policy").values()
        for statement in res["Properties"]["PolicyDocument"]["Statement"]
    ]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_iam_is_scoped_to_the_stacks_own_tables_bucket_and_logs(templates: dict[str, dict[str, Any]]) -> None:
    template = templates["default"]
    tables = set(of_type(template, "AWS::DynamoDB::Table"))
    (bucket,) = of_type(template, "AWS::S3::Bucket")
    log_groups = set(of_type(template, "AWS::Logs::LogGroup"))
    statements = _statements(template)
    assert statements, "the role has a policy"
    for statement in statements:
        actions = _listed(statement["Action"])
        resources = _listed(statement["Resource"])
        assert "*" not in resources and all("*" not in a.split(":")[1] for a in actions)
        rendered = json.dumps(resources)
        if any(a.startswith("dynamodb:") for a in actions):
            assert {r["Fn::GetAtt"][0] for r in resources} == tables
        elif any(a.startswith("s3:") for a in actions):
            assert all(r["Fn::Join"][1][0] == {"Fn::GetAtt": [bucket, "Arn"]} for r in resources)
            assert all(r["Fn::Join"][1][1] in {"/ccr/*", "/responses/*", "/models/*"} for r in resources)
        elif any(a.startswith("logs:") for a in actions):
            assert {r["Fn::GetAtt"][0] for r in resources} <= log_groups, rendered
        else:
            pytest.fail(f"unexpected statement {statement}")
    role = next(iter(of_type(template, "AWS::IAM::Role").values()))["Properties"]
    assert "ManagedPolicyArns" not in role
    assert not any(a.startswith("secretsmanager:") for s in statements for a in _listed(s["Action"]))


def test_log_groups_keep_the_chosen_retention(templates: dict[str, dict[str, Any]]) -> None:
    for key, days in (("default", 30), ("locked", 90)):
        groups = of_type(templates[key], "AWS::Logs::LogGroup")
        assert len(groups) == 2
        assert {g["Properties"]["RetentionInDays"] for g in groups.values()} == {days}
        referenced = {
            f["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            for f in of_type(templates[key], "AWS::Lambda::Function").values()
        }
        assert referenced == set(groups)


def test_alarms_on_errors_throttles_and_duration_for_each_function(
    templates: dict[str, dict[str, Any]],
) -> None:
    template = templates["locked"]
    alarms = [res["Properties"] for res in of_type(template, "AWS::CloudWatch::Alarm").values()]
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for alarm in alarms:
        by_metric.setdefault(alarm["MetricName"], []).append(alarm)
    assert {name: len(found) for name, found in by_metric.items()} == {"Errors": 2, "Throttles": 2, "Duration": 2}
    assert {a["ExtendedStatistic"] for a in by_metric["Duration"]} == {"p99"}
    assert {a["Threshold"] for a in by_metric["Duration"]} == {600 * 800}
    assert all(a["Namespace"] == "AWS/Lambda" and a["TreatMissingData"] == "notBreaching" for a in alarms)
    functions = set(of_type(template, "AWS::Lambda::Function"))
    for metric in ("Errors", "Throttles", "Duration"):
        watched = {a["Dimensions"][0]["Value"]["Ref"] for a in by_metric[metric]}
        assert watched == functions, metric


def test_every_alarm_notifies_one_encrypted_topic(templates: dict[str, dict[str, Any]]) -> None:
    for key in ("default", "locked"):
        template = templates[key]
        ((topic_id, topic),) = of_type(template, "AWS::SNS::Topic").items()
        alarms = [res["Properties"] for res in of_type(template, "AWS::CloudWatch::Alarm").values()]
        assert len(alarms) == 6
        for alarm in alarms:
            assert alarm["AlarmActions"] == [{"Ref": topic_id}] and alarm["OKActions"] == [{"Ref": topic_id}]
        ((key_id, kms_key),) = of_type(template, "AWS::KMS::Key").items()
        assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
        assert kms_key["Properties"]["EnableKeyRotation"] is True
        cloudwatch = [
            statement
            for statement in kms_key["Properties"]["KeyPolicy"]["Statement"]
            if statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        ]
        assert [(s["Effect"], sorted(_listed(s["Action"]))) for s in cloudwatch] == [
            ("Allow", ["kms:Decrypt", "kms:GenerateDataKey*"])
        ]
        (policy,) = [res["Properties"] for res in of_type(template, "AWS::SNS::TopicPolicy").values()]
        (deny,) = policy["PolicyDocument"]["Statement"]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert policy["Topics"] == [{"Ref": topic_id}]
        assert template["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": topic_id}
    assert not of_type(templates["default"], "AWS::SNS::Subscription")
    ((_, subscription),) = of_type(templates["locked"], "AWS::SNS::Subscription").items()
    (locked_topic,) = of_type(templates["locked"], "AWS::SNS::Topic")
    expected = {"Protocol": "email", "Endpoint": ALARM_EMAIL, "TopicArn": {"Ref": locked_topic}}
    assert subscription["Properties"] == expected


def test_secret_mode_reads_the_secret_requires_a_headroom_key_and_locks_urls(
    templates: dict[str, dict[str, Any]],
) -> None:
    locked, default = templates["locked"], templates["default"]
    assert {u["Properties"]["AuthType"] for u in of_type(locked, "AWS::Lambda::Url").values()} == {"AWS_IAM"}
    assert not [p for p in of_type(locked, "AWS::Lambda::Permission").values() if p["Properties"]["Principal"] == "*"]
    secret_statements = [s for s in _statements(locked) if "secretsmanager:GetSecretValue" in _listed(s["Action"])]
    assert [s["Resource"] for s in secret_statements] == [SECRET_ARN]
    for function in of_type(locked, "AWS::Lambda::Function").values():
        env = function["Properties"]["Environment"]["Variables"]
        assert env["HEADROOM_SECRET_ARN"] == SECRET_ARN and "HEADROOM_PROXY_KEYS" not in env
    assert locked["Outputs"]["HeadroomKeyRequired"]["Value"] == "true"
    assert "HeadroomProxyKeys" not in locked.get("Parameters", {})
    assert default["Outputs"]["HeadroomKeyRequired"]["Value"] == "false"
    parameter = default["Parameters"]["HeadroomProxyKeys"]
    assert parameter["NoEcho"] is True
    for function in of_type(default, "AWS::Lambda::Function").values():
        env = function["Properties"]["Environment"]["Variables"]
        assert env["HEADROOM_PROXY_KEYS"] == {"Ref": "HeadroomProxyKeys"} and "HEADROOM_SECRET_ARN" not in env


def test_context_values_are_parsed_and_checked(tmp_path: Path) -> None:
    options = options_from_context(
        {"stage": "qa", "memory": "3008", "timeout": "300", "reservedConcurrency": "", "urlAuth": "AWS_IAM"}
    )
    assert (options.memory_mb, options.timeout_s, options.reserved_concurrency) == (3008, 300, None)
    assert options.prefix == "headroom-qa" and options.url_auth == "AWS_IAM"
    with pytest.raises(StackOptionError, match="secretArn"):
        options_from_context({"providerKeys": "secret"})
    with pytest.raises(StackOptionError, match="timeout"):
        options_from_context({"timeout": "901"})
    with pytest.raises(StackOptionError, match="memory"):
        options_from_context({"memory": "lots"})
    with pytest.raises(StackOptionError, match="logRetentionDays"):
        options_from_context({"logRetentionDays": 31})
    assert options_from_context({"alarmEmail": ALARM_EMAIL}).alarm_email == ALARM_EMAIL
    with pytest.raises(StackOptionError, match="alarmEmail"):
        options_from_context({"alarmEmail": "a@example.com,b@example.com"})
    with pytest.raises(StackOptionError, match="build_deps"):
        StackOptions(code_dir=tmp_path / "missing", deps_layer_dir=tmp_path).check_assets()
