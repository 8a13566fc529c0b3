"""`cdk synth` with the real CDK CLI from npm (pinned in tests/infra/package.json, installed by
scripts/install-cdk-cli.sh), offline: it reads infra/cdk.json, runs the app as a deployer would and writes a cloud
assembly the pinned CLI accepts. No AWS account: the stack is environment-agnostic, the environment carries no
credentials, and version checks, notices and CLI telemetry are off, so nothing leaves the machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.processes import REPO_ROOT, free_port

pytestmark = [pytest.mark.infra, pytest.mark.slow]

CDK = REPO_ROOT / ".cache" / "cdk-cli" / "node_modules" / ".bin" / "cdk"
STAGE = "synthci"
ALARM_EMAIL = "oncall@example.com"


def _offline_env(home: Path) -> dict[str, str]:
    """Only what the CLI and the app need; never the caller's AWS credentials or profile. A proxy on a closed
    loopback port catches any HTTP(S) request the CLI would still try to make."""
    closed = f"http://127.0.0.1:{free_port()}"
    return {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "CDK_DISABLE_VERSION_CHECK": "true",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "1",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        "HTTP_PROXY": closed,
        "HTTPS_PROXY": closed,
        "NO_PROXY": "",
    }


def _assets(root: Path) -> tuple[Path, Path]:
    code = root / "function" / "handlers"
    code.mkdir(parents=True)
    (code / "api.py").write_text("def handler(event, context):\n    return {}\n")
    deps = root / "deps" / "python"
    deps.mkdir(parents=True)
    (deps / "placeholder.py").write_text("")
    return code.parent, deps.parent


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    if not CDK.exists():
        pytest.skip("the CDK CLI is not installed; run scripts/install-cdk-cli.sh")
    root = tmp_path_factory.mktemp("cdk-synth")
    code_dir, deps_dir = _assets(root)
    home = root / "home"
    home.mkdir()
    out = root / "cdk.out"
    argv = [str(CDK), "synth", "--no-notices", "--no-version-reporting", "--no-color", "--output", str(out)]
    for name, value in (
        ("stage", STAGE),
        ("memory", "2048"),
        ("reservedConcurrency", "20"),
        ("alarmEmail", ALARM_EMAIL),
        ("codeDir", str(code_dir)),
        ("depsLayerDir", str(deps_dir)),
    ):
        argv += ["--context", f"{name}={value}"]
    done = subprocess.run(
        argv, cwd=REPO_ROOT / "infra", env=_offline_env(home), capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, f"cdk synth failed:\n{done.stdout}\n{done.stderr}"
    return done, out


def _of_type(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [res["Properties"] for res in template["Resources"].values() if res["Type"] == kind]


def test_the_assembly_is_environment_agnostic_with_one_stack_and_its_assets(
    synthesized: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, out = synthesized
    manifest = json.loads((out / "manifest.json").read_text())
    stacks = {name: a for name, a in manifest["artifacts"].items() if a["type"] == "aws:cloudformation:stack"}
    assert list(stacks) == [f"Headroom-{STAGE}"]
    assert stacks[f"Headroom-{STAGE}"]["environment"] == "aws://unknown-account/unknown-region"
    assets = json.loads((out / f"Headroom-{STAGE}.assets.json").read_text())
    files = assets["files"].values()
    zipped = sorted(item["displayName"] for item in files if item["source"].get("packaging") == "zip")
    assert zipped == ["ApiFunction/Code", "DepsLayer/Code"], "both functions share one code asset"
    assert not (REPO_ROOT / "infra" / "cdk.context.json").exists(), "no context lookup may reach an account"


def test_the_template_follows_the_context_values(synthesized: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, out = synthesized
    template = json.loads((out / f"Headroom-{STAGE}.template.json").read_text())
    functions = _of_type(template, "AWS::Lambda::Function")
    assert sorted(f["Handler"] for f in functions) == ["handlers.api.handler", "handlers/stream/run.sh"]
    assert {(f["MemorySize"], f["ReservedConcurrentExecutions"], f["Timeout"]) for f in functions} == {(2048, 20, 900)}
    assert sorted(url["InvokeMode"] for url in _of_type(template, "AWS::Lambda::Url")) == [
        "BUFFERED",
        "RESPONSE_STREAM",
    ]
    tables = sorted(t["TableName"] for t in _of_type(template, "AWS::DynamoDB::Table"))
    assert tables == [f"headroom-{STAGE}-{n}" for n in ("conversations", "counters", "responses", "savings", "toin")]
    alarms = _of_type(template, "AWS::CloudWatch::Alarm")
    assert len(alarms) == 6 and all(a["AlarmActions"] == a["OKActions"] for a in alarms)
    (subscription,) = _of_type(template, "AWS::SNS::Subscription")
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", ALARM_EMAIL)
    assert template["Parameters"]["HeadroomProxyKeys"]["NoEcho"] is True
    assert {"ApiUrl", "ProxyUrl", "AlarmTopicArn", "HeadroomKeyRequired"} <= set(template["Outputs"])
    assert "headroom:openUrl" in done.stdout + done.stderr, "the open-URL warning reaches the deployer"
