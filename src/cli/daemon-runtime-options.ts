/**
 * How Node must be started for the daemon: the V8 flags and environment that keep its
 * memory small (issue 5: daemon + conmons at 20 pods ≤ a third of containerd + shims).
 * This is the one list: the test and benchmark helper spawns the daemon with it, and a
 * unit test checks that scripts/run-daemon.sh and the systemd unit carry the same, so what
 * is measured is what is deployed.
 */

/**
 * - `--max-semi-space-size=1`: V8's young generation defaults to two 16 MiB semi-spaces,
 *   all of it touched after a few dozen RPCs; 1 MiB ones cost a few more scavenges
 *   (cheap: most RPC garbage dies young) and save ~30 MiB RSS after a container lifecycle.
 * - `--expose-gc`: big buffers (ExecSync output, gRPC frames) are freed only when V8
 *   collects the objects holding them, and V8 collects when JS allocates; after an ExecSync
 *   storm 670 MiB of dead buffers waited for the next calls (issue 18 item 6). With gc()
 *   the daemon collects after big outputs and when it goes quiet (src/daemon/idle-trim.ts).
 * Rejected: --optimize-for-size (4-9 MiB less RSS, but it made the container RPCs ~50%
 *   slower: CreateContainer p50 16 -> 25 ms, StartContainer 83 -> 111 ms), --lite-mode/--jitless and --no-expose-wasm (undici needs WebAssembly),
 * --max-old-space-size (no measurable gain, and a daemon must never die of heap OOM),
 * MALLOC_ARENA_MAX=2 and UV_THREADPOOL_SIZE=2 (no gain beyond run-to-run noise).
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--expose-gc'];

/** Environment variables for the daemon process (glibc and libuv read them at start-up). */
export const DAEMON_ENV: Readonly<Record<string, string>> = {};
