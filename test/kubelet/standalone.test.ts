/**
 * A real kubelet, standalone (static pods, no API server), on critter: the user the CRI is
 * for. A host-network pod, a CNI pod with an exec readiness probe and an httpGet liveness
 * probe, a failing liveness probe that makes the kubelet restart its container, logs under
 * the kubelet's pod log dir and through crictl, and removal of the manifests stopping and
 * removing everything. Skipped, loudly, where no kubelet binary is found (binaries.ts).
 */
import assert from 'node:assert/strict';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { run } from '../../src/lib/exec.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { startPodDaemon, type PodDaemon } from '../integration/helpers/pod-network.ts';
import { findKubeBinaries, findKubeBinary } from './helpers/binaries.ts';
import { waitFor as waitUntil } from './helpers/wait.ts';
import { startKubelet, type KubeletPod, type RunningKubelet } from './helpers/kubelet.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const found = await findKubeBinaries(['kubelet'], 'real-kubelet tests (test/kubelet/standalone)');
const NS = 'critter-kubelet';

let registry: RunningRegistry | undefined;
let imgs: StandardTestImages;
let pd: PodDaemon | undefined;
let kubelet: RunningKubelet | undefined;

/** The kubelet's error lines, for a timeout's message. */
async function kubeletErrors(): Promise<string> {
  const lines = kubelet ? (await kubelet.log().catch(() => '')).split('\n') : [];
  return `kubelet errors:\n${lines.filter((l) => /^E|error/i.test(l)).slice(-15).join('\n')}`;
}

const waitFor = <T>(what: string, probe: () => Promise<T | undefined>, ms: number): Promise<T> => waitUntil(what, probe, ms, { context: kubeletErrors });

function staticPod(name: string, spec: Any): Any {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS }, spec: { terminationGracePeriodSeconds: 2, ...spec } };
}

async function kubeletPod(name: string): Promise<KubeletPod | undefined> {
  return (await kubelet!.pods()).find((p) => p.metadata.name === `${name}-${kubelet!.nodeName}` && p.metadata.namespace === NS);
}

function isReady(p: KubeletPod | undefined): boolean {
  return p?.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** `prober_probe_total` for one pod and probe type, by result. */
function probeCount(metrics: string, pod: string, type: string, result: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith('prober_probe_total{') && l.includes(`pod="${pod}"`) && l.includes(`probe_type="${type}"`) && l.includes(`result="${result}"`));
  return line ? Number(line.split(' ').pop()) : 0;
}

before(async () => {
  if (found.skip !== false) return;
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  pd = await startPodDaemon({ registriesConf: registriesConfText(registry.host) });
  kubelet = await startKubelet({ binary: found.paths.kubelet, socket: pd.daemon.dirs.socket });
  await waitFor('the kubelet to serve /pods', () => kubelet!.pods(), 60_000);
});

after(async () => {
  await kubelet?.stop();
  await pd?.close();
  await registry?.stop();
});

test('a standalone kubelet runs static pods on critter: host network, CNI with probes, a liveness restart, logs, removal', { skip: found.skip, timeout: 10 * 60_000 }, async (t) => {
  const k = kubelet!;
  const net = pd!.net;
  const manifests = {
    hostnet: staticPod('hostnet', {
      hostNetwork: true,
      containers: [{ name: 'main', image: imgs.busybox.reference, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'echo hello-from-hostnet; exec sleep 3600'] }],
    }),
    web: staticPod('web', {
      containers: [{
        name: 'web', image: imgs.web.reference, imagePullPolicy: 'IfNotPresent',
        readinessProbe: { exec: { command: ['test', '-f', '/var/www/index.html'] }, periodSeconds: 1 },
        livenessProbe: { httpGet: { path: '/', port: 80 }, periodSeconds: 1, failureThreshold: 3 },
      }],
    }),
    flaky: staticPod('flaky', {
      containers: [{
        name: 'flaky', image: imgs.busybox.reference, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'echo flaky-started; exec sleep 3600'],
        livenessProbe: { exec: { command: ['false'] }, periodSeconds: 1, failureThreshold: 1 },
      }],
      terminationGracePeriodSeconds: 1,
    }),
  };
  for (const [name, m] of Object.entries(manifests)) {
    // Whole files only: the kubelet reads a manifest as soon as it appears (dot files it skips).
    await writeFile(join(k.manifestDir, `.${name}.tmp`), JSON.stringify(m));
    await rename(join(k.manifestDir, `.${name}.tmp`), join(k.manifestDir, `${name}.yaml`));
  }

  const hostnet = await waitFor('hostnet Ready', async () => { const p = await kubeletPod('hostnet'); return isReady(p) ? p : undefined; }, 120_000);
  assert.equal(hostnet.status.phase, 'Running');

  const web = await waitFor('web Ready (exec readiness probe)', async () => { const p = await kubeletPod('web'); return isReady(p) ? p : undefined; }, 120_000);
  const webPod = `web-${k.nodeName}`;
  await waitFor('two successful httpGet liveness probes', async () => (probeCount(await k.metrics('/metrics/probes'), webPod, 'Liveness', 'successful') >= 2 ? true : undefined), 60_000);
  const sandboxes = (await pd!.daemon.client.call('ListPodSandbox', { filter: { label_selector: { 'io.kubernetes.pod.name': webPod } } })).items as Any[];
  assert.equal(sandboxes.length, 1);
  const podStatus = (await pd!.daemon.client.call('PodSandboxStatus', { pod_sandbox_id: sandboxes[0]!.id })).status;
  assert.match(podStatus.network.ip, net.addressPattern, 'the CNI pod has an address of the test network');
  assert.equal((await kubeletPod('web'))?.status.containerStatuses?.[0]?.restartCount, 0, `web restarted: ${JSON.stringify(web.status.containerStatuses)}`);

  const flaky = await waitFor('the kubelet to restart flaky after its liveness probe failed', async () => {
    const p = await kubeletPod('flaky');
    return (p?.status.containerStatuses?.[0]?.restartCount ?? 0) >= 1 ? p : undefined;
  }, 120_000);
  const flakyContainers = (await pd!.daemon.client.call('ListContainers', { filter: { label_selector: { 'io.kubernetes.pod.name': `flaky-${k.nodeName}` } } })).containers as Any[];
  assert.ok(flakyContainers.some((c) => c.metadata.attempt >= 1), `a second attempt exists: ${JSON.stringify(flakyContainers.map((c) => c.metadata))}`);
  assert.ok(flaky.status.containerStatuses![0]!.restartCount >= 1);

  // Logs where the kubelet reads them: <podLogsDir>/<ns>_<pod>_<uid>/<container>/<attempt>.log.
  const podDir = `${NS}_hostnet-${k.nodeName}_${hostnet.metadata.uid}`;
  const logText = await waitFor('the hostnet log file', async () => {
    const t = await readFile(join(k.podLogsDir, podDir, 'main', '0.log'), 'utf8').catch(() => '');
    return t.includes('hello-from-hostnet') ? t : undefined;
  }, 30_000);
  assert.match(logText, /^\S+ stdout F hello-from-hostnet$/m, 'CRI log format');
  const crictl = await findKubeBinary('crictl');
  if (crictl === undefined) {
    t.diagnostic('crictl NOT found (CRICTL or KUBE_BIN_DIR): `crictl logs` was NOT checked');
  } else {
    const id = hostnet.status.containerStatuses![0]!.containerID!.replace(/^[a-z]+:\/\//, '');
    const out = await run(crictl, ['--runtime-endpoint', `unix://${pd!.daemon.dirs.socket}`, 'logs', id]);
    assert.match(out.stdout, /hello-from-hostnet/);
  }

  // Removing the manifests: the kubelet stops the pods, then its garbage collector removes them.
  for (const name of Object.keys(manifests)) await rm(join(k.manifestDir, `${name}.yaml`));
  await waitFor('every pod and container removed through the CRI', async () => {
    const c = (await pd!.daemon.client.call('ListContainers', {})).containers as Any[];
    const p = (await pd!.daemon.client.call('ListPodSandbox', {})).items as Any[];
    return c.length === 0 && p.length === 0 ? true : undefined;
  }, 180_000);
  assert.deepEqual(await net.leasedIps(), [], 'the CNI address went back');
  assert.deepEqual((await readdir(k.podLogsDir)).filter((d) => d.startsWith(NS)), [], 'the kubelet removed the pod log dirs');
});
