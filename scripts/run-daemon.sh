#!/usr/bin/env bash
# Starts critter with the default configuration (/etc/critter/critter.yaml if present)
# after making sure the host has what it needs. Extra arguments go to `critter daemon`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
# A 1 MiB V8 semi-space keeps the idle daemon about 10 MiB smaller (README: Memory).
exec node --max-semi-space-size=1 dist/src/cli/main.js daemon "$@"
