#!/usr/bin/env bash
# Install the npm packages pinned in <pins-dir>/package.json (and package-lock.json) into .cache/<name>, then print
# each named command's version. Quick no-op when the lock file is unchanged and the commands are there.
# Usage: scripts/install-npm-pins.sh <pins-dir relative to the repository> <name> <command>...
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pins="$repo_root/$1"
target="$repo_root/.cache/$2"
shift 2
stamp="$target/.installed-lock.sha256"

installed() {
  local command
  for command in "$@"; do
    [[ -x "$target/node_modules/.bin/$command" ]] || return 1
  done
}

mkdir -p "$target"
cp "$pins/package.json" "$target/package.json"
if [[ -f "$pins/package-lock.json" ]]; then
  cp "$pins/package-lock.json" "$target/package-lock.json"
  wanted="$(sha256sum "$pins/package-lock.json" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]] && installed "$@"; then
    echo "$* already installed in $target"
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

for command in "$@"; do
  "$target/node_modules/.bin/$command" --version
done
