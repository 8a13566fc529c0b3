#!/usr/bin/env bash
# Install the agent CLIs used by tests/e2e (Claude Code, Codex CLI, Copilot CLI) into .cache/agent-clis,
# at the versions pinned in tests/e2e/package.json and package-lock.json. Quick no-op when already installed.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/install-npm-pins.sh" tests/e2e agent-clis claude codex copilot
