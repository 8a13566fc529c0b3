#!/usr/bin/env bash
# Install the agent CLIs used by tests/e2e (Claude Code, Codex CLI, Copilot CLI) into .cache/agent-clis,
# at the versions pinned in tests/e2e/package.json and package-lock.json. Quick no-op when already installed.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pins="$repo_root/tests/e2e"
target="$repo_root/.cache/agent-clis"
stamp="$target/.installed-lock.sha256"

mkdir -p "$target"
cp "$pins/package.json" "$target/package.json"
if [[ -f "$pins/package-lock.json" ]]; then
  cp "$pins/package-lock.json" "$target/package-lock.json"
  wanted="$(sha256sum "$pins/package-lock.json" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" && -x "$target/node_modules/.bin/claude" \
        && -x "$target/node_modules/.bin/codex" && -x "$target/node_modules/.bin/copilot" ]]; then
    echo "agent CLIs already installed in $target"
    exit 0
  fi
  (cd "$target" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$wanted" > "$stamp"
else
  # First run without a lock file: resolve the pins and keep the lock beside package.json.
  (cd "$target" && npm install --no-audit --no-fund --loglevel=error)
  cp "$target/package-lock.json" "$pins/package-lock.json"
  sha256sum "$pins/package-lock.json" | cut -d' ' -f1 > "$stamp"
fi

for cli in claude codex copilot; do
  "$target/node_modules/.bin/$cli" --version
done
