#!/usr/bin/env bash
# Runs every test: set-up first (idempotent), then the static checks (ESLint with type-aware
# rules, the layer check), then unit tests, component tests (one module against the real
# host tools), integration tests (the real daemon over gRPC) and the conformance suite, in
# one node:test run so the summary counts them all. Everything runs on the pinned Node
# (scripts/node-pin.sh); the daemons the tests start use the same binary (process.execPath).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/node-pin.sh
export PATH="$CRITTER_NODE_DIR/bin:$PATH"
echo "==> lint"
node node_modules/eslint/bin/eslint.js --max-warnings=0 .
echo "==> layer check"
node dist/tools/check-layers.js
mapfile -t files < <(
  find dist/src -name '*.test.js' | sort
  for d in component integration critest kubelet; do [ -d "dist/test/$d" ] && find "dist/test/$d" -name '*.test.js' | sort; done
  find dist/bench dist/tools -name "*.test.js" | sort
)
echo "==> ${#files[@]} test files"
# One file at a time: component and integration tests use real namespaces, mounts and
# processes, and this is a 2-core machine.
exec node --test --test-concurrency=1 --test-timeout=600000 "${files[@]}"
