/**
 * `npm run bench -- [--scenario NAME] [--iterations N] [--endpoint unix:///path]
 *                   [--compare unix:///run/containerd/containerd.sock | bare] [--compare-cni-conf-dir DIR] [--round N]
 *                   [--runtime-path /path/to/runc]`
 * `--compare bare` compares with a bare grpc-js server (bare-server.ts): critter's cost per call beyond grpc-js.
 * Without --endpoint a critter daemon is started on temp dirs for the run, with a private
 * CNI bridge network in its conf dir (pod scenarios need one). --compare-cni-conf-dir
 * writes another private network into the compared runtime's CNI conf dir for the run. With
 * --compare the same scenario runs against that endpoint too and ratios are printed
 * (critter / other: below 1 means critter is faster); the two endpoints take turns, N
 * timed iterations each (default 5). --runtime-path points the started daemon's default handler
 * (runc) at another OCI runtime binary: give it the compared runtime's runc so that Start, Stop
 * and ExecSync, which mostly wait on runc, are compared on the same one.
 */
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../src/cli/daemon-runtime-options.ts';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { criClient, type CriClient } from '../test/integration/helpers/cri-client.ts';
import type { RunningDaemon } from '../test/integration/helpers/daemon.ts';
import { createPodNetwork, startPodDaemon, type PodDaemon, type PodNetwork } from '../test/integration/helpers/pod-network.ts';
import { formatTimings, runInterleaved, runOne, type Scenario, type Timings } from './harness.ts';
import { cpuTicks, serverPid, socketOf } from './proc.ts';
import { SCENARIOS } from './scenarios/index.ts';

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** The bare grpc-js server of bare-server.ts on a temp socket, started with the daemon's Node flags. */
async function startBareServer(): Promise<{ socket: string; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'critter-bench-bare-'));
  const socket = join(dir, 'bare.sock');
  const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, fileURLToPath(new URL('./bare-server.js', import.meta.url)), socket], {
    env: { ...process.env, ...DAEMON_ENV }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`bare server exited with ${code}`)));
  });
  return {
    socket,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The servers' CPU time over a scenario (set-up, warm-up and teardown included), per timed
 * call: on a shared machine wall-clock percentiles move with the neighbours' load, CPU
 * time much less. Both endpoints run in the same minutes, interleaved.
 */
async function serverCpu(clients: readonly CriClient[]): Promise<{ report(mine: Timings, theirs?: Timings): Promise<string> }> {
  const pids = await Promise.all(clients.map((c) => serverPid(socketOf(c)).catch(() => undefined)));
  const before = await Promise.all(pids.map(async (p) => (p === undefined ? undefined : cpuTicks(p))));
  const calls = (t: Timings): number => [...t.values()].reduce((n, v) => n + v.length, 0);
  return {
    async report(mine, theirs) {
      const after = await Promise.all(pids.map(async (p) => (p === undefined ? undefined : cpuTicks(p))));
      const perCall = [mine, theirs].slice(0, clients.length).map((t, i) => {
        const b = before[i];
        const a = after[i];
        // Ticks are 10 ms; per call in µs.
        return t && a !== undefined && b !== undefined ? ((a - b) * 10_000) / Math.max(1, calls(t)) : NaN;
      });
      const line = `server CPU per timed call (whole scenario): critter ${perCall[0]!.toFixed(0)} µs`;
      return perCall.length < 2 ? line : `${line}, other ${perCall[1]!.toFixed(0)} µs, ratio ${(perCall[0]! / perCall[1]!).toFixed(2)}`;
    },
  };
}

/** A scenario that needs something before the daemon starts (its own registry, say). */
type WithDaemonSetup = Scenario & { beforeDaemon?(): Promise<{ registriesConf?: string; close(): Promise<void> }> };

/** The started daemon's config: quiet logs, and the runc handler's binary when one is given. */
function daemonConfigYaml(runtimePath: string | undefined): string {
  const quiet = 'log_level: warn\n';
  if (runtimePath === undefined) return quiet;
  if (!isAbsolute(runtimePath)) throw new Error(`--runtime-path must be an absolute path, got "${runtimePath}"`);
  return `${quiet}runtime:\n  handlers:\n    runc:\n      path: ${JSON.stringify(runtimePath)}\n      root: ""\n`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'runtime-info' },
      iterations: { type: 'string', default: '200' },
      endpoint: { type: 'string' },
      compare: { type: 'string' },
      'compare-cni-conf-dir': { type: 'string' },
      round: { type: 'string', default: '5' },
      'runtime-path': { type: 'string' },
    },
  });
  const names = values.scenario === 'all' ? Object.keys(SCENARIOS) : [values.scenario];
  const iterations = Number(values.iterations);
  const round = Number(values.round);
  if (!(round >= 1)) throw new Error(`--round must be a positive number of iterations, got "${values.round}"`);
  let podDaemon: PodDaemon | undefined;
  let daemon: RunningDaemon | undefined;
  let client: CriClient | undefined;
  let confDir: string | undefined;
  let bare: { socket: string; stop(): Promise<void> } | undefined;
  let other: CriClient | undefined;
  let otherNet: PodNetwork | undefined;
  const prepared: { registriesConf?: string; close(): Promise<void> }[] = [];
  // Everything started is stopped in `finally`, also when a later start fails.
  try {
    for (const name of names) {
      const s: WithDaemonSetup | undefined = SCENARIOS[name];
      if (s?.beforeDaemon) prepared.push(await s.beforeDaemon());
    }
    const registriesConf = prepared.map((p) => p.registriesConf ?? '').join('\n').trim();
    confDir = registriesConf ? await mkdtemp(join(tmpdir(), 'critter-bench-conf-')) : undefined;
    if (confDir) await writeFile(join(confDir, 'registries.conf'), registriesConf);
    const confArgs = confDir ? ['--registries-conf', join(confDir, 'registries.conf')] : [];
    if (values.endpoint && values['runtime-path']) throw new Error('--runtime-path applies to the daemon the bench starts, not to --endpoint');
    if (values.endpoint) {
      client = criClient(values.endpoint.replace(/^unix:\/\//, ''));
    } else {
      const runtimePath = values['runtime-path'];
      if (runtimePath) console.log(`critter's runc handler: ${runtimePath}`);
      podDaemon = await startPodDaemon({ configYaml: daemonConfigYaml(runtimePath), extraArgs: ['--log-level', 'warn', ...confArgs] });
      daemon = podDaemon.daemon;
      client = daemon.client;
      await new Promise((r) => setTimeout(r, 2000));
      console.log(`critter idle RSS after start: ${(await rssMiB(daemon.proc.pid!)).toFixed(1)} MiB`);
    }
    bare = values.compare === 'bare' ? await startBareServer() : undefined;
    const compareSocket = bare?.socket ?? values.compare?.replace(/^unix:\/\//, '');
    other = compareSocket ? criClient(compareSocket) : undefined;
    otherNet = values['compare-cni-conf-dir'] ? await createPodNetwork({ confDir: values['compare-cni-conf-dir'] }) : undefined;
    for (const name of names) {
      const s = SCENARIOS[name];
      if (!s) throw new Error(`unknown scenario "${name}"; known: ${Object.keys(SCENARIOS).join(', ')}`);
      if (s.measure) {
        console.log(`\n== ${s.name}: ${s.describe}`);
        await s.measure([{ label: 'critter', client }, ...(other ? [{ label: 'other', client: other }] : [])]);
        continue;
      }
      console.log(`\n== ${s.name}: ${s.describe} (${iterations} iterations)`);
      const cpu = await serverCpu([client, ...(other ? [other] : [])]);
      const [mine, theirs] = other
        ? await runInterleaved(s, client, other, iterations, round)
        : [await runOne(s, client, iterations), undefined];
      console.log(formatTimings('critter', mine.timings, theirs ? { label: 'other', timings: theirs.timings } : undefined));
      if (mine.summary) console.log(`critter: ${mine.summary}`);
      if (theirs?.summary) console.log(`other: ${theirs.summary}`);
      console.log(await cpu.report(mine.timings, theirs?.timings));
    }
    if (daemon) console.log(`\ncritter RSS after the run: ${(await rssMiB(daemon.proc.pid!)).toFixed(1)} MiB`);
  } finally {
    other?.close();
    await bare?.stop();
    if (podDaemon) await podDaemon.close();
    else client?.close();
    for (const p of prepared) await p.close();
    if (confDir) await rm(confDir, { recursive: true, force: true });
    if (otherNet) {
      await rm(otherNet.conflistFile, { force: true });
      await otherNet.cleanup();
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
