#!/usr/bin/env bash
# Regenerates the TypeScript types of the CRI contract (proto/cri/api.proto) into
# src/generated/cri. The generator writes extension-less relative imports, which ESM
# under nodenext refuses, so each one gets its `.ts` suffix here.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf src/generated/cri
scripts/node node_modules/@grpc/proto-loader/build/bin/proto-loader-gen-types.js --keepCase --longs=String --enums=Number --defaults --oneofs \
  --grpcLib=@grpc/grpc-js -O src/generated/cri proto/cri/api.proto >/dev/null
find src/generated/cri -name '*.ts' -print0 |
  xargs -0 sed -i -E "s#(from '\\.{1,2}/[^']*)';#\\1.ts';#; s#\\.ts\\.ts';#.ts';#"
