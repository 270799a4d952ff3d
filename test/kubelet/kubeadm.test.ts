/**
 * `kubeadm init` of a single-node cluster whose every pod, the control plane's static pods
 * included, runs on critter; then what an operator does on such a cluster with kubectl, and
 * `kubeadm reset` leaving the host as it was. Skipped, loudly, without the binaries (see
 * helpers/binaries.ts) or on a host that already is a node.
 *
 * CoreDNS is not deployed (`--skip-phases=addon/coredns`): it is not in the Kubernetes tree,
 * so no image of it can be built offline; the Service is reached by its ClusterIP.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { run, runAllowFailure } from '../../src/lib/exec.ts';
import { BlobCache } from '../fixtures/layer-builder.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { startPodDaemon, type PodDaemon } from '../integration/helpers/pod-network.ts';
import { findKubeBinaries } from './helpers/binaries.ts';
import { kubeIptablesRules } from './helpers/kube-iptables.ts';
import { waitFor } from './helpers/wait.ts';
import {
  finishReset, KUBE_PROXY_HOST_PATHS, kubeadmConfig, kubeadmHostProblem, makeNodeAddress,
  pushControlPlaneImages, startKubeadmKubelet, type NodeAddress,
} from './helpers/kubeadm-node.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const BINARIES = ['kubeadm', 'kubelet', 'kubectl', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy', 'etcd'] as const;
const found = await findKubeBinaries(BINARIES, 'kubeadm cluster test (test/kubelet/kubeadm)');
const hostProblem = found.skip === false ? await kubeadmHostProblem() : undefined;
if (hostProblem) process.stderr.write(`\n*** kubeadm cluster test NOT run: ${hostProblem} ***\n\n`);
const skip = found.skip !== false ? found.skip : hostProblem ? `kubeadm cluster test NOT run: ${hostProblem}` : false;
const bins = found.skip === false ? found.paths : undefined;

const NODE = 'critter-kubeadm';
const ADMIN = '/etc/kubernetes/admin.conf';

let registry: RunningRegistry | undefined;
let imgs: StandardTestImages;
let pd: PodDaemon | undefined;
let addr: NodeAddress | undefined;
let kubelet: ChildProcess | undefined;
let work: string;
let iptablesBefore: string[] = [];
const createdByTest: string[] = [];

async function kubectl(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await run(bins!.kubectl, ['--kubeconfig', ADMIN, ...args], { timeoutMs: opts.timeoutMs ?? 120_000, ...(opts.input ? { input: opts.input } : {}) });
  return r.stdout;
}

async function kubectlJson(args: string[]): Promise<Any> {
  return JSON.parse(await kubectl([...args, '-o', 'json'])) as Any;
}

async function stopKubelet(): Promise<void> {
  const k = kubelet;
  kubelet = undefined;
  if (!k || k.exitCode !== null || k.signalCode !== null) return;
  const exited = new Promise((r) => k.once('exit', r));
  k.kill('SIGTERM');
  await exited;
}

const apply = (manifest: Any): Promise<string> => kubectl(['apply', '-f', '-'], { input: JSON.stringify(manifest) });

before(async () => {
  if (skip !== false) return;
  work = await mkdtemp(join(tmpdir(), 'critter-kubeadm-'));
  for (const p of KUBE_PROXY_HOST_PATHS) if (!(await access(p).then(() => true, () => false))) createdByTest.push(p);
  iptablesBefore = await kubeIptablesRules();
  registry = await startRegistry();
  const cache = new BlobCache();
  imgs = await standardTestImages(registry, { cache });
  await pushControlPlaneImages(registry, bins!.kubeadm, bins!, cache);
  pd = await startPodDaemon({ registriesConf: registriesConfText(registry.host), defaultRoute: true });
  addr = await makeNodeAddress(work.slice(-4).toLowerCase().replace(/[^a-z0-9]/g, 'x'), 10 + (process.pid % 200));
  const cfg = join(work, 'kubeadm.yaml');
  await writeFile(cfg, await kubeadmConfig({ nodeName: NODE, nodeIp: addr.ip, socket: pd.daemon.dirs.socket, podSubnet: pd.net.subnet }));
  // kubeadm asks systemd to (re)start the kubelet; without systemd the test starts it once kubeadm has written its config.
  // kubeadm's preflight wants forwarding on (the pod network's cleanup restores the old value)
  // and runs `kubelet --version` from PATH.
  await writeFile('/proc/sys/net/ipv4/ip_forward', '1');
  const env = { ...process.env, PATH: `${dirname(bins!.kubelet)}:${process.env.PATH ?? ''}` };
  const init = spawn(bins!.kubeadm, ['init', '--config', cfg, '--skip-phases=addon/coredns', '--v=1'], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let initOut = '';
  init.stdout.on('data', (b: Buffer) => { initOut += b.toString(); });
  init.stderr.on('data', (b: Buffer) => { initOut += b.toString(); });
  const initDone = new Promise<number | null>((resolve) => init.once('exit', (code) => resolve(code)));
  await waitFor('kubeadm to write the kubelet config', async () => ((await access('/var/lib/kubelet/kubeadm-flags.env').then(() => true, () => false)) ? true : undefined), 300_000)
    .catch((err: unknown) => { throw new Error(`${String(err)}\nkubeadm said:\n${initOut}`); });
  kubelet = await startKubeadmKubelet(bins!.kubelet, join(work, 'kubelet.log'));
  const code = await initDone;
  await writeFile(join(work, 'kubeadm-init.log'), initOut);
  assert.equal(code, 0, `kubeadm init failed:\n${initOut.split('\n').slice(-40).join('\n')}`);
});

after(async () => {
  if (skip !== false) return;
  await stopKubelet();
  if (bins && pd) {
    const reset = await runAllowFailure(bins.kubeadm, ['reset', '--force', '--cri-socket', `unix://${pd.daemon.dirs.socket}`], { timeoutMs: 300_000 });
    if (reset.exitCode !== 0) process.stderr.write(`kubeadm reset failed: ${reset.stderr}\n`);
  }
  await pd?.close();
  if (bins) await finishReset({ kubeProxy: bins['kube-proxy'], createdByTest });
  await addr?.cleanup();
  await registry?.stop();
  if (work && !process.env.KUBEADM_KEEP_DIR) await rm(work, { recursive: true, force: true });
});

test('kubeadm init on critter: the node is Ready and every kube-system pod Running', { skip, timeout: 15 * 60_000 }, async () => {
  await waitFor('node Ready', async () => {
    const n = await kubectlJson(['get', 'node', NODE]);
    return n.status.conditions.some((c: Any) => c.type === 'Ready' && c.status === 'True') ? n : undefined;
  }, 180_000);
  await kubectl(['taint', 'nodes', NODE, 'node-role.kubernetes.io/control-plane-']);
  const pods = await waitFor('every kube-system pod Running and ready', async () => {
    const list = (await kubectlJson(['-n', 'kube-system', 'get', 'pods'])).items as Any[];
    const ok = list.length >= 5 && list.every((p) => p.status.phase === 'Running' && p.status.containerStatuses?.every((c: Any) => c.ready));
    return ok ? list : undefined;
  }, 300_000);
  const names = pods.map((p) => p.metadata.name as string).sort();
  for (const c of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy']) {
    assert.ok(names.some((n) => n.startsWith(c)), `${c} is among ${names.join(', ')}`);
  }
  const node = await kubectlJson(['get', 'node', NODE]);
  assert.match(node.status.nodeInfo.containerRuntimeVersion, /^critter:\/\//);
});

test('kubectl run, logs, exec, attach, cp and port-forward on critter', { skip, timeout: 10 * 60_000 }, async () => {
  await kubectl(['run', 'shell', `--image=${imgs.busybox.reference}`, '--restart=Never', '--', 'sh', '-c', 'echo hello-from-kubectl; i=0; while true; do echo tick$i; i=$((i+1)); sleep 1; done']);
  await kubectl(['wait', '--for=condition=Ready', 'pod/shell', '--timeout=180s'], { timeoutMs: 200_000 });
  assert.match(await kubectl(['logs', 'shell']), /hello-from-kubectl/);
  assert.equal((await kubectl(['exec', 'shell', '--', 'sh', '-c', 'echo $((6*7))'])).trim(), '42');
  await writeFile(join(work, 'to-pod.txt'), 'copied-in\n');
  await kubectl(['cp', join(work, 'to-pod.txt'), 'default/shell:/tmp/in.txt']);
  assert.equal(await kubectl(['exec', 'shell', '--', 'cat', '/tmp/in.txt']), 'copied-in\n');
  await kubectl(['cp', 'default/shell:/tmp/in.txt', join(work, 'from-pod.txt')]);
  assert.equal(await readFile(join(work, 'from-pod.txt'), 'utf8'), 'copied-in\n');
  // attach streams the running container's output.
  const attach = await runAllowFailure('timeout', ['5', bins!.kubectl, '--kubeconfig', ADMIN, 'attach', 'shell'], { timeoutMs: 30_000 });
  assert.match(attach.stdout, /tick\d+/, `attach output: ${attach.stdout} ${attach.stderr}`);

  await kubectl(['run', 'web', `--image=${imgs.web.reference}`, '--restart=Never', '--port=80']);
  await kubectl(['wait', '--for=condition=Ready', 'pod/web', '--timeout=180s'], { timeoutMs: 200_000 });
  const pf = spawn(bins!.kubectl, ['--kubeconfig', ADMIN, 'port-forward', 'pod/web', '18080:80'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await waitFor('port-forward to listen', () => new Promise<true | undefined>((resolve) => {
      pf.stdout.once('data', (b: Buffer) => resolve(b.toString().includes('Forwarding') ? true : undefined));
    }), 30_000);
    const body = (await run('busybox', ['wget', '-qO-', 'http://127.0.0.1:18080/'])).stdout;
    assert.match(body, /critter test web server/);
  } finally {
    pf.kill('SIGTERM');
  }
  await kubectl(['delete', 'pod', 'shell', 'web', '--grace-period=1', '--wait=true'], { timeoutMs: 120_000 });
});

test('a Deployment of 3 behind a ClusterIP Service answers another pod through kube-proxy, and rolls over', { skip, timeout: 10 * 60_000 }, async () => {
  const deployment = (version: string): Any => ({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default' },
    spec: {
      replicas: 3, selector: { matchLabels: { app: 'web' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 1 } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'web', image: imgs.web.reference, env: [{ name: 'VERSION', value: version }], ports: [{ containerPort: 80 }], readinessProbe: { httpGet: { path: '/', port: 80 }, periodSeconds: 1 } }],
        },
      },
    },
  });
  await apply(deployment('1'));
  await apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ port: 8080, targetPort: 80 }] } });
  await kubectl(['rollout', 'status', 'deployment/web', '--timeout=240s'], { timeoutMs: 260_000 });
  const clusterIp = (await kubectlJson(['get', 'service', 'web'])).spec.clusterIP as string;
  await kubectl(['run', 'client', `--image=${imgs.busybox.reference}`, '--restart=Never', '--', 'sleep', '3600']);
  await kubectl(['wait', '--for=condition=Ready', 'pod/client', '--timeout=180s'], { timeoutMs: 200_000 });
  const body = await waitFor('the Service through kube-proxy', async () => {
    // nc, not wget: the static busybox's wget crashes in an image without glibc's NSS files.
    const out = await kubectl(['exec', 'client', '--', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${clusterIp} 8080`]);
    return out.includes('critter test web server') ? out : undefined;
  }, 120_000);
  assert.match(body, /critter test web server/);
  await apply(deployment('2'));
  await kubectl(['rollout', 'status', 'deployment/web', '--timeout=240s'], { timeoutMs: 260_000 });
  const pods = (await kubectlJson(['get', 'pods', '-l', 'app=web'])).items as Any[];
  const current = pods.filter((p) => !p.metadata.deletionTimestamp);
  assert.equal(current.length, 3);
  assert.ok(current.every((p) => p.spec.containers[0].env[0].value === '2'), 'every replica runs the new template');
  await kubectl(['delete', 'deployment', 'web', '--wait=true'], { timeoutMs: 120_000 });
  await kubectl(['delete', 'service', 'web']);
  await kubectl(['delete', 'pod', 'client', '--grace-period=1', '--wait=true'], { timeoutMs: 120_000 });
});

test('a Job completes; a pod over its memory limit shows OOMKilled; the summary API has pod stats', { skip, timeout: 10 * 60_000 }, async () => {
  await apply({
    apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'count', namespace: 'default' },
    spec: { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'count', image: imgs.busybox.reference, command: ['sh', '-c', 'seq 1 3'] }] } } },
  });
  await kubectl(['wait', '--for=condition=complete', 'job/count', '--timeout=180s'], { timeoutMs: 200_000 });
  assert.equal((await kubectl(['logs', 'job/count'])).trim(), '1\n2\n3');

  await apply({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'hog', namespace: 'default' },
    spec: {
      restartPolicy: 'Never',
      containers: [{ name: 'hog', image: imgs.busybox.reference, command: ['sh', '-c', 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo ${#x}'], resources: { limits: { memory: '20Mi' }, requests: { memory: '20Mi' } } }],
    },
  });
  const terminated = await waitFor('the hog to be killed', async () => {
    const p = await kubectlJson(['get', 'pod', 'hog']);
    return p.status.containerStatuses?.[0]?.state?.terminated as Any | undefined;
  }, 180_000);
  assert.equal(terminated.reason, 'OOMKilled');

  await kubectl(['run', 'idle', `--image=${imgs.busybox.reference}`, '--restart=Never', '--', 'sleep', '3600']);
  await kubectl(['wait', '--for=condition=Ready', 'pod/idle', '--timeout=180s'], { timeoutMs: 200_000 });
  const summary = await waitFor('pod stats in the summary API', async () => {
    const s = JSON.parse(await kubectl(['get', '--raw', `/api/v1/nodes/${NODE}/proxy/stats/summary`])) as Any;
    const pod = (s.pods as Any[]).find((p) => p.podRef.name === 'idle');
    return pod?.containers?.[0]?.memory?.workingSetBytes > 0 && pod?.cpu?.usageNanoCores !== undefined ? s : undefined;
  }, 120_000);
  assert.ok(summary.node.memory.workingSetBytes > 0);
  await kubectl(['delete', 'job', 'count', '--wait=true'], { timeoutMs: 120_000 });
  await kubectl(['delete', 'pod', 'hog', 'idle', '--grace-period=1', '--wait=true'], { timeoutMs: 120_000 });
});

test('kubeadm reset leaves the host as it was', { skip, timeout: 10 * 60_000 }, async () => {
  // What `kubeadm reset` asks systemd to do first: a kubelet left running recreates its pods.
  await stopKubelet();
  const reset = await run(bins!.kubeadm, ['reset', '--force', '--cri-socket', `unix://${pd!.daemon.dirs.socket}`], { timeoutMs: 300_000 });
  assert.match(reset.stdout + reset.stderr, /reset/i);
  const left = (await pd!.daemon.client.call('ListPodSandbox', {})).items as Any[];
  assert.deepEqual(left.map((p) => p.metadata.name), [], 'kubeadm reset removed every pod through the CRI');
  await finishReset({ kubeProxy: bins!['kube-proxy'], createdByTest });
  for (const p of ['/etc/kubernetes', '/var/lib/kubelet', '/var/lib/etcd']) {
    assert.equal(await access(p).then(() => true, () => false), false, `${p} is gone`);
  }
  assert.deepEqual(await kubeIptablesRules(), iptablesBefore, 'no kube-proxy rule or chain left');
});
