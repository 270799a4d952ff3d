#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks to run and test critter, then builds it.
# Idempotent and quick when everything is present: apt runs only for missing packages,
# npm install only when the lockfile changed, and the default CNI network is installed only
# when the CNI conf dir is empty. Run as root.
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

stamp=node_modules/.critter-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  # Not `npm ci`: node-unix-socket lists per-platform optional packages that do not all
  # exist on the registry, so npm never considers the lockfile "in sync" for ci. install
  # still follows the lockfile's versions.
  echo "==> npm install (from package-lock.json)"
  npm install --no-audit --no-fund --no-save --loglevel=error
  cp package-lock.json "$stamp"
fi

echo "==> build"
npx tsc -p tsconfig.json

conf_dir=/etc/cni/net.d
if [ -d cni ] && [ -z "$(ls -A "$conf_dir" 2>/dev/null || true)" ]; then
  echo "==> installing the default CNI network into $conf_dir"
  mkdir -p "$conf_dir"
  cp cni/*.conflist "$conf_dir"/ 2>/dev/null || true
fi
echo "==> setup done"
