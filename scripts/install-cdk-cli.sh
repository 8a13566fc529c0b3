#!/usr/bin/env bash
# Install the AWS CDK CLI used by tests/infra (`cdk synth`, offline) into .cache/cdk-cli, at the version pinned in
# tests/infra/package.json and package-lock.json. Quick no-op when already installed.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/install-npm-pins.sh" tests/infra cdk-cli cdk
