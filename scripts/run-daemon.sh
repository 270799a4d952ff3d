#!/usr/bin/env bash
# Starts critter with the default configuration (/etc/critter/critter.yaml if present)
# after making sure the host has what it needs. Extra arguments go to `critter daemon`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
exec node dist/src/cli/main.js daemon "$@"
