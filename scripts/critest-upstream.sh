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
#   CRITEST_BUSYBOX=path      a prebuilt static busybox for the stand-in images (skips the build)
# Needs root, docker-registry, gcc and make (static C stand-ins, busybox), zstd, and - unless
# CRITEST_BUSYBOX is set - apt-get with access to the Debian archive and bzip2: the stand-ins'
# busybox is compiled from Debian's busybox source package on the first run (about 1.5 min on
# two cores) and cached with the test blob cache for later runs.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then export CRITEST="$1"; fi
if [ -z "${CRITEST:-}" ] && ! command -v critest >/dev/null; then
  echo "critest not found on PATH; pass its path as the first argument" >&2
  exit 2
fi
if [ -z "${CRITEST_BUSYBOX:-}" ]; then
  for tool in apt-get bzip2 make gcc; do
    command -v "$tool" >/dev/null || { echo "$tool not found: the critest stand-in images need busybox compiled from Debian's source package (install Debian package ${tool/apt-get/apt}, or set CRITEST_BUSYBOX to a prebuilt static busybox)" >&2; exit 2; }
  done
fi
bash scripts/setup.sh
exec scripts/node --test --test-reporter=spec dist/test/critest/upstream.test.js
