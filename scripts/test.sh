#!/usr/bin/env bash
# Runs every test: set-up first (idempotent), then unit tests, component tests (one module
# against the real host tools), integration tests (the real daemon over gRPC) and the
# conformance suite, in one node:test run so the summary counts them all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mapfile -t files < <(
  find dist/src -name '*.test.js' | sort
  for d in component integration critest kubelet; do [ -d "dist/test/$d" ] && find "dist/test/$d" -name '*.test.js' | sort; done
  find dist/bench -name "*.test.js" | sort
)
echo "==> ${#files[@]} test files"
# One file at a time: component and integration tests use real namespaces, mounts and
# processes, and this is a 2-core machine.
exec node --test --test-concurrency=1 --test-timeout=600000 "${files[@]}"
