#!/bin/sh
# /usr/bin/critter: the CLI and daemon on critter's own Node (the package's /usr/lib/critter/node).
# Node flags: the list in src/cli/daemon-runtime-options.ts.
exec /usr/lib/critter/node/bin/node --max-semi-space-size=1 /usr/lib/critter/dist/src/cli/main.js "$@"
