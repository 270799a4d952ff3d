#!/usr/bin/env bash
# Builds the Debian package critter_<version>_amd64.deb (version from package.json) into the
# directory given (default: the checkout): the built daemon and its production npm
# dependencies under /usr/lib/critter, the pinned Node.js (scripts/node-pin.sh) as
# /usr/lib/critter/node/bin/node, /usr/bin/critter, the systemd unit (Type=notify), the
# default config as a conffile, the default CNI network (copied into /etc/cni/net.d by
# postinst only where that dir is empty) and Depends on the Debian packages critter runs.
# Maintainer scripts and control fields: deploy/debian/. Runs scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mkdir -p "${1:-.}" && cd "${1:-.}" && pwd)"
bash scripts/setup.sh
. scripts/node-pin.sh
export PATH="$CRITTER_NODE_DIR/bin:$PATH"
version="$(node -p 'require("./package.json").version')"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
root="$stage/root"
lib="$root/usr/lib/critter"
mkdir -p "$lib/dist" "$lib/node/bin" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/critter" \
  "$root/usr/share/critter/cni" "$root/usr/share/doc/critter" "$root/DEBIAN"

echo "==> staging critter $version"
# The daemon without its tests (source maps stay: stack traces then name the TypeScript lines).
cp -r dist/src "$lib/dist/src"
find "$lib/dist/src" \( -name '*.test.js' -o -name '*.test.js.map' \) -delete
cp -r proto apparmor package.json package-lock.json "$lib/"
cp -a node_modules "$lib/node_modules"
rm -f "$lib/node_modules/.critter-lock-stamp"
# node-pty's Windows and macOS parts (prebuilt binaries, winpty, conpty): it is built from source here.
rm -rf "$lib/node_modules/node-pty/prebuilds" "$lib/node_modules/node-pty/deps" "$lib/node_modules/node-pty/third_party"
(cd "$lib" && npm prune --omit=dev --no-audit --no-fund --loglevel=error)
cp "$CRITTER_NODE_DIR/bin/node" "$lib/node/bin/node"
cp "$CRITTER_NODE_DIR/LICENSE" "$lib/node/LICENSE"
install -m 0755 deploy/debian/critter.sh "$root/usr/bin/critter"
install -m 0644 deploy/systemd/critter.service "$root/lib/systemd/system/critter.service"
install -m 0644 deploy/critter.yaml "$root/etc/critter/critter.yaml"
install -m 0644 cni/* "$root/usr/share/critter/cni/"
install -m 0644 README.md "$root/usr/share/doc/critter/README.md"
printf 'critter is licensed under the Apache License 2.0 (/usr/share/common-licenses/Apache-2.0).\nNode.js: /usr/lib/critter/node/LICENSE. npm dependencies: the LICENSE files under /usr/lib/critter/node_modules.\n' \
  > "$root/usr/share/doc/critter/copyright"

install -m 0644 deploy/debian/conffiles "$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 0755 "deploy/debian/$s" "$root/DEBIAN/$s"; done
size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$size/" deploy/debian/control.in > "$root/DEBIAN/control"

deb="$out/critter_${version}_amd64.deb"
echo "==> dpkg-deb --build $deb"
# xz at level 1: a third of the time of the default level for a few MiB more.
dpkg-deb --root-owner-group -Zxz -z1 --build "$root" "$deb" >/dev/null
echo "==> $deb ($(du -h "$deb" | cut -f1))"
