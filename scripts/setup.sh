#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks to run and test critter, then builds it.
# Idempotent and quick when everything is present: apt runs only for missing packages, the
# pinned Node.js (scripts/node-pin.sh) is unpacked into .tools/ only when absent, npm install
# only when the lockfile or that Node changed, and the default CNI network is installed only
# when the CNI conf dir is empty. Run as root. The system's own Node (if any) is not used.
set -euo pipefail
cd "$(dirname "$0")/.."

# Runtime needs (DESIGN: Host dependencies), then what the tests need.
RUNTIME_PKGS=(runc crun conmon catatonit containernetworking-plugins iptables socat util-linux
  golang-github-containers-common zstd iproute2)
# apparmor_parser loads critter's default profile, only where the kernel enforces AppArmor.
if [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ]; then RUNTIME_PKGS+=(apparmor); fi
# criu: checkpoint/restore is optional at run time (a host without it gets FAILED_PRECONDITION).
TEST_PKGS=(docker-registry busybox-static attr openssl apache2-utils criu)
# node-pty compiles its native addon at npm install time.
BUILD_PKGS=(build-essential python3)

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh: run as root (it installs Debian packages and critter manages namespaces and mounts)" >&2
  exit 1
fi

missing=()
for p in "${RUNTIME_PKGS[@]}" "${TEST_PKGS[@]}" "${BUILD_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

bash scripts/install-node.sh
. scripts/node-pin.sh
# npm, node-gyp and every script below run on the pinned Node, and native addons are built
# against its headers (no header download: the machine may be offline).
export PATH="$CRITTER_NODE_DIR/bin:$PATH"
export npm_config_nodedir="$CRITTER_NODE_DIR"

stamp=node_modules/.critter-lock-stamp
want_stamp="$(printf 'node v%s\n' "$CRITTER_NODE_VERSION"; cat package-lock.json)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want_stamp" ]; then
  # Not `npm ci`: node-unix-socket lists per-platform optional packages that do not all
  # exist on the registry, so npm never considers the lockfile "in sync" for ci. install
  # still follows the lockfile's versions.
  echo "==> npm install (from package-lock.json)"
  npm install --no-audit --no-fund --no-save --loglevel=error
  # Addons already in node_modules were built for the Node of the last install.
  if [ -f "$stamp" ] && [ "$(head -n1 "$stamp")" != "node v$CRITTER_NODE_VERSION" ]; then
    echo "==> npm rebuild (Node changed to $CRITTER_NODE_VERSION)"
    npm rebuild --loglevel=error
  fi
  printf '%s\n' "$want_stamp" > "$stamp"
fi

echo "==> build"
node node_modules/@typescript/native/bin/tsc -p tsconfig.json

conf_dir=/etc/cni/net.d
if [ -d cni ] && [ -z "$(ls -A "$conf_dir" 2>/dev/null || true)" ]; then
  echo "==> installing the default CNI network into $conf_dir"
  mkdir -p "$conf_dir"
  cp cni/*.conflist "$conf_dir"/ 2>/dev/null || true
fi
echo "==> setup done"
