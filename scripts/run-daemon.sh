#!/usr/bin/env bash
# Starts critter with the default configuration (/etc/critter/critter.yaml if present)
# after making sure the host has what it needs. Extra arguments go to `critter daemon`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
# Node flags: the list in src/cli/daemon-runtime-options.ts (a unit test keeps them equal; README: Memory).
exec scripts/node --max-semi-space-size=1 --expose-gc dist/src/cli/main.js daemon "$@"
