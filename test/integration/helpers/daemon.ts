/**
 * Starts the built critter daemon for a test on its own temp socket, root, run root and
 * CNI conf dir, so tests run beside a system daemon. `stop()` sends SIGTERM and waits;
 * the temp dirs are removed unless the caller keeps them for a restart test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { criClient, type CriClient } from './cri-client.ts';
import { unmountAllUnder } from './mounts.ts';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../../../src/cli/daemon-runtime-options.ts';

/** How long stop() waits for the daemon to exit after SIGTERM before it kills it. */
const STOP_GRACE_MS = 90_000;

export const CLI = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));

export interface DaemonOptions {
  /** Reuse an earlier daemon's directories (restart tests). */
  dirs?: DaemonDirs;
  /** YAML written as the daemon's config file. */
  configYaml?: string;
  /** A containers-registries.conf for the daemon. */
  registriesConf?: string;
  extraArgs?: string[];
  /** Wait for readiness (default true). */
  waitReady?: boolean;
  /** Extra environment for the daemon process. */
  env?: Record<string, string>;
  /** The program and its first arguments instead of this Node with the checkout's CLI (an installed `critter`). */
  command?: readonly string[];
}

export interface DaemonDirs {
  base: string;
  socket: string;
  root: string;
  runRoot: string;
  cniConfDir: string;
  configFile: string;
}

export interface RunningDaemon {
  dirs: DaemonDirs;
  proc: ChildProcess;
  client: CriClient;
  /** Everything the daemon wrote to stderr so far. */
  logs(): string;
  /** SIGTERM, wait for exit (SIGKILL and a thrown error after STOP_GRACE_MS); resolves with the exit code. */
  stop(opts?: { keepDirs?: boolean }): Promise<number | null>;
  /** SIGKILL (crash), wait for exit; keeps the dirs. */
  kill(): Promise<void>;
  /** The daemon's /metrics URL, from its start-up log. */
  metricsUrl(): string;
}

/** Creates a fresh set of directories for one daemon. */
export async function makeDirs(): Promise<DaemonDirs> {
  const base = await mkdtemp(join(tmpdir(), 'critter-it-'));
  // Searchable by others, as /run and /var/lib are: the root of a pod's user namespace is
  // an unprivileged host id, and runc reaches the run root's rootfs paths as that id.
  await chmod(base, 0o711);
  const dirs = {
    base,
    socket: join(base, 'run', 'critter.sock'),
    root: join(base, 'root'),
    runRoot: join(base, 'run'),
    cniConfDir: join(base, 'net.d'),
    configFile: join(base, 'etc', 'critter.yaml'),
  };
  await mkdir(dirs.cniConfDir, { recursive: true });
  await mkdir(join(base, 'etc'), { recursive: true });
  return dirs;
}

/** Runs the daemon and resolves once it answers Version. */
export async function startDaemon(opts: DaemonOptions = {}): Promise<RunningDaemon> {
  const dirs = opts.dirs ?? (await makeDirs());
  await writeFile(dirs.configFile, opts.configYaml ?? '# test defaults\n');
  // Node flags as deployed (scripts/run-daemon.sh, the systemd unit): tests and benchmarks measure that daemon.
  const [program, ...lead] = opts.command ?? [process.execPath, ...DAEMON_NODE_FLAGS, CLI];
  const args = [...lead, 'daemon', '--config', dirs.configFile, '--socket', dirs.socket, '--root', dirs.root, '--run-root', dirs.runRoot, '--cni-conf-dir', dirs.cniConfDir, '--log-level', 'debug', '--metrics-port', '0'];
  if (opts.registriesConf) {
    const f = join(dirs.base, 'etc', 'registries.conf');
    await writeFile(f, opts.registriesConf);
    args.push('--registries-conf', f);
  }
  args.push(...(opts.extraArgs ?? []));
  const proc = spawn(program!, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...DAEMON_ENV, ...opts.env } });
  let logs = '';
  proc.stdout?.on('data', (d: Buffer) => { logs += d.toString(); });
  proc.stderr?.on('data', (d: Buffer) => { logs += d.toString(); });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const client = criClient(dirs.socket);
  const d: RunningDaemon = {
    dirs,
    proc,
    client,
    logs: () => logs,
    async stop(o = {}) {
      client.close();
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      // A daemon whose event loop is stuck never acts on SIGTERM: killed after its longest
      // shutdown timeout in these tests (60 s) and then some, so one hang fails one test
      // instead of holding the whole run until the CI's limit.
      // Unref'd: a pending grace timer must not keep a finished test file alive for 90 s.
      const code = await Promise.race([exited, sleep(STOP_GRACE_MS, undefined, { ref: false })]);
      const stuck = code === undefined;
      if (stuck) {
        proc.kill('SIGKILL');
        await exited;
      }
      if (!o.keepDirs) {
        // Pod namespaces and shm stay mounted after the daemon exits (pods outlive it).
        await unmountAllUnder(dirs.base);
        await rm(dirs.base, { recursive: true, force: true });
      }
      if (stuck) throw new Error(`critter did not exit within ${STOP_GRACE_MS / 1000} s of SIGTERM and was killed:\n${logs.slice(-4000)}`);
      return code;
    },
    metricsUrl() {
      const m = /"address":"(http:\/\/[^"]+\/metrics)"/.exec(logs);
      if (!m) throw new Error(`no metrics URL in the daemon log:\n${logs}`);
      return m[1]!;
    },
    async kill() {
      client.close();
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
  if (opts.waitReady !== false) {
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`critter exited ${proc.exitCode} during start:\n${logs}`);
      try {
        // Every RPC answers UNAVAILABLE until start-up work is done.
        await client.call('Status', {}, { deadlineMs: 1000 });
        break;
      } catch (err) {
        if (Date.now() > deadline) {
          await d.kill();
          throw new Error(`critter not ready after 20 s: ${String(err)}\n${logs}`, { cause: err });
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
  return d;
}

/** The value of an unlabelled series on the daemon's /metrics (NaN when absent). */
export async function metricValue(d: RunningDaemon, name: string): Promise<number> {
  const text = await (await fetch(d.metricsUrl())).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : NaN;
}

/** Polls /metrics, with a deadline, until `name` reads `value`: the daemon's own word that a state was reached. */
export async function waitForMetric(d: RunningDaemon, name: string, value: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const last = await metricValue(d, name);
    if (last === value) return;
    if (Date.now() > deadline) throw new Error(`${name} is ${last}, not ${value}, after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
