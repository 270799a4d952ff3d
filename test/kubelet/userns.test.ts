/**
 * A pod with `hostUsers: false` from a real kubelet (KEP-127, on by default in 1.33): the
 * kubelet allocates the pod's uid/gid range itself, finds the `user_namespaces` feature in
 * critter's RuntimeStatus handlers, and sends mode POD with its mappings; the container is
 * root of a user namespace mapped to that range, and an emptyDir the kubelet made is writable.
 * Skipped, loudly, where no kubelet binary is found (binaries.ts) or critter does not report
 * the feature on this host.
 */
import assert from 'node:assert/strict';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { startPodDaemon, type PodDaemon } from '../integration/helpers/pod-network.ts';
import { findKubeBinaries } from './helpers/binaries.ts';
import { startKubelet, type RunningKubelet } from './helpers/kubelet.ts';
import { waitFor } from './helpers/wait.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const NS = 'critter-userns';
const POD_MODE = 0;

const found = await findKubeBinaries(['kubelet'], 'kubelet user-namespace tests (test/kubelet/userns)');
let registry: RunningRegistry | undefined;
let imgs: StandardTestImages;
let pd: PodDaemon | undefined;
let kubelet: RunningKubelet | undefined;
let featureMissing = '';

before(async () => {
  if (found.skip !== false) return;
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  pd = await startPodDaemon({ registriesConf: registriesConfText(registry.host) });
  const status = await pd.daemon.client.call('Status', {});
  if (!(status.runtime_handlers as Any[]).some((h) => h.features?.user_namespaces)) {
    featureMissing = 'critter reports no runtime handler with user_namespaces on this host';
    process.stderr.write(`\n*** kubelet user-namespace test NOT run: ${featureMissing} ***\n\n`);
    return;
  }
  kubelet = await startKubelet({ binary: found.paths.kubelet, socket: pd.daemon.dirs.socket, config: { featureGates: { UserNamespacesSupport: true } } });
  await waitFor('the kubelet to serve /pods', () => kubelet!.pods(), 60_000);
});

after(async () => {
  await kubelet?.stop();
  await pd?.close();
  await registry?.stop();
});

test('a hostUsers: false pod from the kubelet runs as root of a user namespace with the kubelet\'s mappings', { skip: found.skip, timeout: 5 * 60_000 }, async (t) => {
  if (featureMissing) return t.skip(featureMissing);
  const k = kubelet!;
  const manifest = {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'userns', namespace: NS },
    spec: {
      hostUsers: false, terminationGracePeriodSeconds: 1,
      volumes: [{ name: 'scratch', emptyDir: {} }],
      containers: [{
        name: 'main', image: imgs.busybox.reference, imagePullPolicy: 'IfNotPresent',
        command: ['sh', '-c', 'cat /proc/self/uid_map; echo uid=$(id -u); touch /scratch/f && echo wrote; exec sleep 3600'],
        volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
      }],
    },
  };
  await writeFile(join(k.manifestDir, '.userns.tmp'), JSON.stringify(manifest));
  await rename(join(k.manifestDir, '.userns.tmp'), join(k.manifestDir, 'userns.yaml'));
  const podName = `userns-${k.nodeName}`;
  const pod = await waitFor('the userns pod running', async () => {
    const p = (await k.pods()).find((x) => x.metadata.name === podName);
    return p?.status.containerStatuses?.[0]?.state['running'] ? p : undefined;
  }, 120_000);

  const sandboxes = (await pd!.daemon.client.call('ListPodSandbox', { filter: { label_selector: { 'io.kubernetes.pod.name': podName } } })).items as Any[];
  const st = await pd!.daemon.client.call('PodSandboxStatus', { pod_sandbox_id: sandboxes[0]!.id, verbose: true });
  const info = JSON.parse(st.info.info) as Any;
  const userns = info.config?.linux?.security_context?.namespace_options?.userns_options;
  assert.equal(userns?.mode, POD_MODE, `the kubelet asked for a pod user namespace: ${JSON.stringify(userns)}`);
  const hostBase = Number(userns.uids[0].host_id);
  assert.ok(hostBase >= 65536 && userns.uids[0].container_id === 0 && Number(userns.uids[0].length) === 65536, JSON.stringify(userns.uids));

  const log = await waitFor('the container\'s log', async () => {
    const dir = join(k.podLogsDir, `${NS}_${podName}_${pod.metadata.uid}`, 'main');
    const text = await readFile(join(dir, '0.log'), 'utf8').catch(() => '');
    return text.includes('wrote') ? text : undefined;
  }, 60_000);
  assert.match(log, new RegExp(`stdout F\\s+0\\s+${hostBase}\\s+65536$`, 'm'), 'uid_map inside: container 0 is the kubelet\'s host range');
  assert.match(log, /stdout F uid=0$/m);

  await rm(join(k.manifestDir, 'userns.yaml'));
  await waitFor('the pod removed through the CRI', async () => (((await pd!.daemon.client.call('ListPodSandbox', {})).items as unknown[]).length === 0 ? true : undefined), 120_000);
});
