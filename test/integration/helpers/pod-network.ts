/**
 * A private CNI network for one test (or one benchmark run): its own conflist in the
 * given conf dir, its own bridge name, a 10.209.x.0/24 subnet no interface on this host
 * uses yet, and its own host-local IPAM data dir, so tests never touch a real pod network
 * and can run beside one. `cleanup()` removes what the bridge and portmap plugins leave
 * on the host after the last pod is gone: the bridge, the shared CNI-HOSTPORT-* chains
 * portmap never deletes, and the ip_forward switch the bridge plugin turns on.
 * `startPodDaemon()` runs a daemon on such a network and `close()` removes its pods,
 * stops it and unmounts what it kept mounted under its dirs.
 */
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { run, runAllowFailure } from '../../../src/lib/exec.ts';
import { makeDirs, startDaemon, type RunningDaemon } from './daemon.ts';
import { unmountAllUnder } from './mounts.ts';

export { mountsUnder, unmountAllUnder } from './mounts.ts';
import type { CriClient } from './cri-client.ts';

export interface PodNetworkOptions {
  /** The conf dir the runtime reads; the conflist is written there. */
  confDir: string;
  /** Plugins appended to bridge + portmap (a failing plugin, say). */
  extraPlugins?: object[];
  /** File name inside confDir (default 10-<name>.conflist). */
  fileName?: string;
  /** Give pods a default route through the bridge, as critter's default network does (Service ClusterIPs need one). */
  defaultRoute?: boolean;
}

export interface PodNetwork {
  /** CNI network name (the IPAM data dir's subdirectory). */
  name: string;
  bridge: string;
  /** `10.209.N.0/24`. */
  subnet: string;
  /** Matches an address of the subnet. */
  addressPattern: RegExp;
  conflistFile: string;
  conflistText: string;
  ipamDir: string;
  /** The addresses host-local holds leases for right now. */
  leasedIps(): Promise<string[]>;
  /**
   * The iptables rules that belong to this network's pods (they name the network or an
   * address of its subnet) and the declarations of the chains they use. Scoped so that
   * other pod networks on the host do not disturb a before/after comparison.
   */
  iptablesRules(): Promise<string[]>;
  /** Host-side interfaces enslaved to this network's bridge (one veth per attached pod). */
  bridgePorts(): Promise<string[]>;
  /** Deletes the bridge and IPAM dir, drops idle CNI-HOSTPORT chains, restores ip_forward. */
  cleanup(): Promise<void>;
}

const SUBNET_FIRST = 10;
const SUBNET_LAST = 250;

/** Every 10.209.N third octet some interface of this host already has. */
async function usedOctets(): Promise<Set<number>> {
  const out = (await run('ip', ['-4', '-o', 'addr', 'show'])).stdout;
  return new Set([...out.matchAll(/inet 10\.209\.(\d+)\./g)].map((m) => Number(m[1])));
}

export async function createPodNetwork(opts: PodNetworkOptions): Promise<PodNetwork> {
  const tag = randomBytes(3).toString('hex');
  const used = await usedOctets();
  let octet = SUBNET_FIRST + (randomBytes(2).readUInt16BE() % (SUBNET_LAST - SUBNET_FIRST));
  while (used.has(octet)) octet = octet >= SUBNET_LAST ? SUBNET_FIRST : octet + 1;
  const name = `crt-${tag}`;
  const bridge = `crt${tag}`;
  const subnet = `10.209.${octet}.0/24`;
  const ipamDir = await mkdtemp(join(tmpdir(), 'critter-ipam-'));
  const ipForwardBefore = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim();
  const conflistText = JSON.stringify({
    cniVersion: '1.0.0',
    name,
    plugins: [
      { type: 'bridge', bridge, isGateway: true, ipMasq: true, ipam: { type: 'host-local', ranges: [[{ subnet }]], dataDir: ipamDir, ...(opts.defaultRoute ? { routes: [{ dst: '0.0.0.0/0' }] } : {}) } },
      { type: 'portmap', capabilities: { portMappings: true } },
      ...(opts.extraPlugins ?? []),
    ],
  }, null, 2);
  await mkdir(opts.confDir, { recursive: true });
  const conflistFile = join(opts.confDir, opts.fileName ?? `10-${name}.conflist`);
  await writeFile(conflistFile, conflistText);
  return {
    name, bridge, subnet, conflistFile, conflistText, ipamDir,
    addressPattern: new RegExp(`^10\\.209\\.${octet}\\.\\d+$`),
    async leasedIps() {
      const names = await readdir(join(ipamDir, name)).catch(() => [] as string[]);
      return names.filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n)).sort();
    },
    async iptablesRules() {
      const all = await iptablesRules();
      const prefix = `10.209.${octet}.`;
      const ours = all.filter((l) => !l.startsWith(':') && (l.includes(`"${name}"`) || l.includes(`\\"${name}\\"`) || l.includes(prefix)));
      const chains = new Set(ours.flatMap((l) => [...l.matchAll(/(?:-A|-j) (CNI-[\w-]+)/g)].map((m) => m[1]!)));
      return [...ours, ...all.filter((l) => l.startsWith(':') && chains.has(l.slice(1).split(' ')[0]!))].sort();
    },
    async bridgePorts() {
      const out = (await runAllowFailure('ip', ['-o', 'link', 'show', 'master', bridge])).stdout;
      return out.split('\n').map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '').filter(Boolean).sort();
    },
    async cleanup() {
      await runAllowFailure('ip', ['link', 'del', bridge]);
      await removeIdlePortmapChains();
      await writeFile('/proc/sys/net/ipv4/ip_forward', ipForwardBefore);
      await rm(ipamDir, { recursive: true, force: true });
    },
  };
}

/** iptables-save without comments and counters, sorted: equal dumps mean no rule or chain was left behind. */
export async function iptablesRules(): Promise<string[]> {
  const out = (await run('iptables-save', [])).stdout;
  return out.split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => (l.startsWith(':') ? l.replace(/\s*\[\d+:\d+\]$/, '') : l))
    .sort();
}

const HOSTPORT_PARENTS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['CNI-HOSTPORT-DNAT', ['PREROUTING', 'OUTPUT']],
  ['CNI-HOSTPORT-SNAT', ['POSTROUTING']],
  ['CNI-HOSTPORT-MASQ', ['POSTROUTING']],
];
const HOSTPORT_JUMPS = (chain: string): string[][] => [
  ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', chain],
  ['-j', chain],
  ['-m', 'comment', '--comment', 'CNI portfwd requiring masquerade', '-j', chain],
];

/**
 * portmap creates shared CNI-HOSTPORT-* chains in the nat table on first use and never
 * removes them. They are dropped only when no pod on the host (ours or anyone's) still
 * has a hostPort rule in them, so a pod network running beside the tests is untouched.
 */
export async function removeIdlePortmapChains(): Promise<void> {
  const dnat = await runAllowFailure('iptables', ['-t', 'nat', '-S', 'CNI-HOSTPORT-DNAT']);
  if (dnat.exitCode !== 0) return;
  if (dnat.stdout.split('\n').some((l) => l.startsWith('-A CNI-HOSTPORT-DNAT'))) return;
  for (const [chain, parents] of HOSTPORT_PARENTS) {
    for (const parent of parents) {
      for (const jump of HOSTPORT_JUMPS(chain)) {
        while ((await runAllowFailure('iptables', ['-t', 'nat', '-D', parent, ...jump])).exitCode === 0) { /* drop every copy */ }
      }
    }
  }
  for (const chain of ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-SNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK']) {
    await runAllowFailure('iptables', ['-t', 'nat', '-F', chain]);
    await runAllowFailure('iptables', ['-t', 'nat', '-X', chain]);
  }
}

/**
 * Writes an executable CNI plugin `<dir>/<type>` whose ADD fails with a CNI error object
 * (`msg: details` is what a runtime should report) and whose DEL succeeds, as a
 * well-behaved plugin's must (CNI SPEC.md: DEL after a failed ADD).
 */
export async function writeFailingPlugin(dir: string, type: string, msg: string, details: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const error = JSON.stringify({ cniVersion: '1.0.0', code: 999, msg, details }).replace(/'/g, '');
  const file = join(dir, type);
  await writeFile(file, [
    '#!/bin/sh',
    'cat >/dev/null',
    `if [ "$CNI_COMMAND" = ADD ]; then echo '${error}'; exit 1; fi`,
    `if [ "$CNI_COMMAND" = VERSION ]; then echo '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}'; fi`,
    'exit 0',
    '',
  ].join('\n'), { mode: 0o755 });
  return file;
}

/** Connects to host:port until a listener answers (it may still be starting) and returns all it sent. */
export async function readFromPort(host: string, port: number, attempts = 30): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await new Promise<string>((resolve, reject) => {
        const sock = connect({ host, port });
        let data = '';
        sock.on('data', (b: Buffer) => { data += b.toString(); });
        sock.on('end', () => (data ? resolve(data) : reject(new Error(`empty reply from ${host}:${port}`))));
        sock.on('error', reject);
        sock.setTimeout(2000, () => sock.destroy(new Error(`no reply from ${host}:${port} in 2 s`)));
      });
    } catch (err) {
      if (attempt >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export interface PodDaemon {
  daemon: RunningDaemon;
  net: PodNetwork;
  /**
   * Stops the daemon keeping its dirs (pods stay pinned and attached) and starts it again
   * on them; `crash` kills it with SIGKILL instead of SIGTERM.
   */
  restart(opts?: { crash?: boolean }): Promise<void>;
  /** Removes every pod over gRPC, stops the daemon, then unmounts and deletes what is left. */
  close(): Promise<void>;
}

export interface PodDaemonOptions {
  extraPlugins?: object[];
  defaultRoute?: boolean;
  extraArgs?: string[];
  configYaml?: string;
  /** containers-registries.conf text for the daemon. */
  registriesConf?: string;
  /** See DaemonOptions.command. */
  command?: readonly string[];
}

/** A critter daemon whose CNI conf dir holds a private network written before it starts. */
export async function startPodDaemon(opts: PodDaemonOptions = {}): Promise<PodDaemon> {
  const dirs = await makeDirs();
  const net = await createPodNetwork({ confDir: dirs.cniConfDir, extraPlugins: opts.extraPlugins, defaultRoute: opts.defaultRoute });
  const start = (): Promise<RunningDaemon> => startDaemon({ dirs, extraArgs: opts.extraArgs, configYaml: opts.configYaml, registriesConf: opts.registriesConf, command: opts.command });
  let daemon: RunningDaemon;
  try {
    daemon = await start();
  } catch (err) {
    await unmountAllUnder(dirs.base);
    await net.cleanup();
    await rm(dirs.base, { recursive: true, force: true });
    throw err;
  }
  const pd: PodDaemon = {
    daemon,
    net,
    async restart(o = {}) {
      if (o.crash) await pd.daemon.kill();
      else await pd.daemon.stop({ keepDirs: true });
      pd.daemon = await start();
    },
    async close() {
      try {
        const pods = (await pd.daemon.client.call('ListPodSandbox', {})).items as { id: string }[];
        for (const p of pods) await pd.daemon.client.call('RemovePodSandbox', { pod_sandbox_id: p.id });
      } finally {
        await pd.daemon.stop({ keepDirs: true });
        await unmountAllUnder(dirs.base);
        await net.cleanup();
        await rm(dirs.base, { recursive: true, force: true });
      }
    },
  };
  return pd;
}

/** A RunPodSandbox config (proto field names) with a unique uid; `extra` overrides top-level fields. */
export function podSandboxConfig(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    metadata: { name, namespace: 'critter-test', uid: `uid-${name}-${randomBytes(4).toString('hex')}`, attempt: 0 },
    labels: { app: name },
    annotations: { 'critter.test/owner': 'integration' },
    linux: {},
    ...extra,
  };
}

export interface PodVerboseInfo {
  netnsPath: string;
  namespaces: { net?: string; ipc?: string; uts?: string };
  runDir: string;
  hostname: string;
  cniResult: unknown;
}

/** PodSandboxStatus with verbose=true: the status and the parsed verbose info. */
export async function podStatusVerbose(client: CriClient, id: string): Promise<{ status: Record<string, any>; info: PodVerboseInfo }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await client.call('PodSandboxStatus', { pod_sandbox_id: id, verbose: true });
  return { status: res.status, info: JSON.parse(res.info.info as string) as PodVerboseInfo };
}
