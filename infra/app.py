"""The CDK entry point (`cdk synth` / `cdk deploy` from infra/): one Headroom stack per stage, configured by
context values (see infra/options.py and docs/deploy.md)."""

from __future__ import annotations

import aws_cdk as cdk

from infra.headroom_stack import HeadroomStack
from infra.options import CONTEXT_NAMES, options_from_context


def main() -> None:
    app = cdk.App()
    options = options_from_context({name: app.node.try_get_context(name) for name in CONTEXT_NAMES})
    env = cdk.Environment(account=app.account, region=app.region)
    HeadroomStack(app, f"Headroom-{options.stage}", options, env=env)
    app.synth()


if __name__ == "__main__":
    main()
