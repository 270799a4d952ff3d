/**
 * A real kubelet for tests, standalone (no API server: static pods from a directory), pointed
 * at a critter socket. Everything it writes is kept under one temp dir and one cgroup root of
 * its own, so stopping it leaves the host as it was: its mounts are unmounted and its cgroups
 * removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { access, mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch } from 'undici';
import { unmountAllUnder } from '../../integration/helpers/mounts.ts';
import { deployDocs, docOfKind } from './deploy-config.ts';
import { kubeIptablesRules, removeKubeIptablesRules } from './kube-iptables.ts';

const SETPRIV = '/usr/bin/setpriv';
const STOP_GRACE_MS = 10_000;

export interface KubeletOptions {
  binary: string;
  /** critter's socket. */
  socket: string;
  /** Extra KubeletConfiguration fields (YAML-compatible JSON values). */
  config?: Record<string, unknown>;
}

export interface RunningKubelet {
  dir: string;
  manifestDir: string;
  podLogsDir: string;
  /** The cgroup (under each hierarchy's root) that holds the kubelet's pods. */
  cgroupRoot: string;
  nodeName: string;
  /** The kubelet's own view of its pods (GET /pods on its authenticated port, anonymous here). */
  pods(): Promise<KubeletPod[]>;
  /** Text of one of the kubelet's metrics endpoints, e.g. `/metrics/probes`. */
  metrics(path: string): Promise<string>;
  /** POST to the kubelet's API (e.g. `/checkpoint/<ns>/<pod>/<container>`): the body of a 200 answer. */
  post(path: string): Promise<string>;
  /** Everything the kubelet logged so far. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

export interface KubeletPod {
  metadata: { name: string; namespace: string; uid: string };
  status: {
    phase?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; ready: boolean; restartCount: number; state: Record<string, unknown>; containerID?: string }[];
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** The cgroup hierarchies of this host: v1 controller mounts and the unified tree. */
async function cgroupMounts(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').filter((l) => / - cgroup2? /.test(l)).map((l) => l.split(' ')[4]!).filter(Boolean);
}

/** Removes a cgroup subtree, children first (a cgroup is removed with rmdir once it is empty). */
async function removeCgroupTree(path: string): Promise<void> {
  const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) await removeCgroupTree(join(path, e.name));
  await rmdir(path).catch(() => undefined);
}

/** deploy/kubelet/kubelet-config.yaml, pointed at the test's socket, dirs and ports. */
export async function kubeletConfig(o: { socket: string; manifestDir: string; podLogsDir: string; cgroupRoot: string; port: number; healthzPort: number }, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  return {
    ...docOfKind(await deployDocs('kubelet-config.yaml'), 'KubeletConfiguration'),
    containerRuntimeEndpoint: `unix://${o.socket}`,
    imageServiceEndpoint: `unix://${o.socket}`,
    staticPodPath: o.manifestDir,
    podLogsDir: o.podLogsDir,
    fileCheckFrequency: '1s',
    syncFrequency: '5s',
    cgroupRoot: o.cgroupRoot,
    failSwapOn: false,
    address: '127.0.0.1',
    port: o.port,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: o.healthzPort,
    authentication: { anonymous: { enabled: true }, webhook: { enabled: false }, x509: {} },
    authorization: { mode: 'AlwaysAllow' },
    // A test VM's disk may be fuller than a node's: never evict the test's pods for it.
    evictionHard: { 'memory.available': '50Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    resolvConf: '/etc/resolv.conf',
    ...extra,
  };
}

/** Whatever its --root-dir, a kubelet makes its device-plugin socket under here. */
const KUBELET_FIXED_DIR = '/var/lib/kubelet';

export async function startKubelet(opts: KubeletOptions): Promise<RunningKubelet> {
  const fixedDirExisted = await access(KUBELET_FIXED_DIR).then(() => true, () => false);
  const kubeRulesExisted = (await kubeIptablesRules()).length > 0;
  const dir = await mkdtemp(join(tmpdir(), 'critter-kubelet-'));
  const tag = dir.slice(-6).replace(/[^a-zA-Z0-9]/g, 'x');
  const manifestDir = join(dir, 'manifests');
  const podLogsDir = join(dir, 'pod-logs');
  const rootDir = join(dir, 'root');
  const cgroupRoot = `/critter-kubelet-${tag}`;
  for (const d of [manifestDir, podLogsDir, rootDir]) await mkdir(d, { recursive: true });
  // The kubelet wants its cgroup root to exist in every hierarchy.
  for (const m of await cgroupMounts()) await mkdir(join(m, cgroupRoot), { recursive: true });
  const port = await freePort();
  const healthzPort = await freePort();
  const config = await kubeletConfig({ socket: opts.socket, manifestDir, podLogsDir, cgroupRoot, port, healthzPort }, opts.config);
  const configFile = join(dir, 'kubelet-config.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const nodeName = `critter-node-${tag.toLowerCase()}`;
  const logFile = join(dir, 'kubelet.log');
  const out = createWriteStream(logFile);
  const args = ['--pdeathsig', 'SIGKILL', '--', opts.binary, '--config', configFile, '--root-dir', rootDir, '--cert-dir', join(dir, 'pki'),
    '--hostname-override', nodeName, '--v', '2'];
  const proc: ChildProcess = spawn(SETPRIV, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.pipe(out, { end: false });
  proc.stderr!.pipe(out, { end: false });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const agent = new Agent({ connect: { rejectUnauthorized: false } });
  const request = async (method: 'GET' | 'POST', path: string): Promise<string> => {
    const res = await fetch(`https://127.0.0.1:${port}${path}`, { method, dispatcher: agent });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`kubelet ${method} ${path}: HTTP ${res.status}: ${text.slice(0, 200)}`);
    return text;
  };
  const get = (path: string): Promise<string> => request('GET', path);
  let stopped = false;
  return {
    dir, manifestDir, podLogsDir, cgroupRoot, nodeName,
    async pods() {
      return (JSON.parse(await get('/pods')) as { items: KubeletPod[] }).items;
    },
    metrics: get,
    post: (path) => request('POST', path),
    log: () => readFile(logFile, 'utf8'),
    async stop() {
      if (stopped) return;
      stopped = true;
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      out.end();
      await agent.close();
      await unmountAllUnder(dir);
      for (const m of await cgroupMounts()) await removeCgroupTree(join(m, cgroupRoot));
      if (!fixedDirExisted) await rm(KUBELET_FIXED_DIR, { recursive: true, force: true });
      if (!kubeRulesExisted) await removeKubeIptablesRules();
      if (!process.env.KUBELET_KEEP_DIR) await rm(dir, { recursive: true, force: true });
    },
  };
}
