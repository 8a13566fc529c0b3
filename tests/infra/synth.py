"""The Headroom stack synthesized in-process over placeholder assets: for the CDK assertions, and for tests that
start a function with exactly the environment the stack gives it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from infra.options import StackOptions

ACCOUNT = "123456789012"
REGION = "eu-west-1"


def placeholder_assets(root: Path) -> tuple[Path, Path]:
    """A function code folder and a dependency layer folder, just enough for the CDK to package them."""
    code = root / "function"
    (code / "handlers").mkdir(parents=True)
    (code / "handlers" / "api.py").write_text("def handler(event, context):\n    return {}\n")
    deps = root / "deps" / "python"
    deps.mkdir(parents=True)
    (deps / "placeholder.py").write_text("")
    return code, deps.parent


def synth_template(root: Path, **choices: Any) -> dict[str, Any]:
    """The CloudFormation template of a stack with these StackOptions choices, in account ACCOUNT and REGION."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from infra.headroom_stack import HeadroomStack

    app = cdk.App(outdir=str(root / "cdk.out"))
    code_dir, deps_layer_dir = placeholder_assets(root)
    options = StackOptions(code_dir=code_dir, deps_layer_dir=deps_layer_dir, **choices)
    stack = HeadroomStack(app, "Headroom-test", options, env=cdk.Environment(account=ACCOUNT, region=REGION))
    return dict(Template.from_stack(stack).to_json())


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """The template's resources of one CloudFormation type, by logical id."""
    return {name: res for name, res in template["Resources"].items() if res["Type"] == kind}


def function_properties(template: dict[str, Any], handler: str) -> dict[str, Any]:
    """The properties of the one function with this handler."""
    (found,) = [
        dict(res["Properties"])
        for res in of_type(template, "AWS::Lambda::Function").values()
        if res["Properties"]["Handler"] == handler
    ]
    return found
