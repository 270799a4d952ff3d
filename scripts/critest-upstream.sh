#!/bin/bash
# critest-upstream.sh - run the upstream CRI validation suite (critest from cri-tools >= 1.31)
# against a freshly started critter daemon, offline: builds the project, then runs
# test/critest/upstream.test.ts, which starts a local registry, pushes stand-ins for the
# images critest hard-codes, starts critter with a registries.conf pointing at that
# registry and runs critest with the skips in test/critest/upstream-skips.txt.
#
# Usage: scripts/critest-upstream.sh [critest binary]
#   CRITEST_FOCUS=regex       run only matching specs (--ginkgo.focus)
#   CRITEST_REPORT_DIR=dir    keep critest's and critter's full output there
# Needs root, docker-registry, busybox-static, gcc (static C stand-ins), zstd.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then export CRITEST="$1"; fi
if [ -z "${CRITEST:-}" ] && ! command -v critest >/dev/null; then
  echo "critest not found on PATH; pass its path as the first argument" >&2
  exit 2
fi
npx tsc -p .
exec node --test --test-reporter=spec dist/test/critest/upstream.test.js
