/**
 * Checkpoint and restore the way an operator does it (issue 14): a standalone kubelet runs a
 * static pod on critter, its checkpoint API (`POST /checkpoint/<ns>/<pod>/<container>`,
 * feature gate ContainerCheckpoint, on by default) has critter write the archive where the
 * kubelet says, and crictl restores it into a new pod (`crictl create` with the archive as
 * the image, then `crictl start`), where the counter goes on from where it was. Needs the
 * kubelet and crictl (binaries.ts) and a CRIU that works on this kernel (CRITTER_TEST_CRIU,
 * else PATH's); skipped loudly without them.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { findExecutable } from '../../src/host/checks.ts';
import { run, runAllowFailure } from '../../src/lib/exec.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { startPodDaemon, type PodDaemon } from '../integration/helpers/pod-network.ts';
import { findKubeBinaries } from './helpers/binaries.ts';
import { startKubelet, type RunningKubelet } from './helpers/kubelet.ts';
import { waitFor } from './helpers/wait.ts';

const NS = 'critter-ckpt';
/** Counts in memory; the file is only written, so a restored count can only come from CRIU's images. */
const COUNTER = 'i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.2; done';

const found = await findKubeBinaries(['kubelet', 'crictl'], 'kubelet checkpoint tests (test/kubelet/checkpoint)');
/** Why this host cannot checkpoint, in CRIU's words; '' when it can. */
async function criuProblem(criu: string | undefined): Promise<string> {
  if (!criu) return 'no criu found (CRITTER_TEST_CRIU or PATH)';
  const r = await runAllowFailure(criu, ['check'], { timeoutMs: 60_000 });
  return r.exitCode === 0 ? '' : `criu check failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`;
}
const criu = found.skip === false ? await findExecutable(process.env['CRITTER_TEST_CRIU'] ?? 'criu') : undefined;
const criuSkip = found.skip === false ? await criuProblem(criu) : '';
if (criuSkip) process.stderr.write(`\n*** kubelet checkpoint tests NOT run: ${criuSkip} ***\n\n`);
const skip = found.skip !== false ? found.skip : criuSkip || false;
const bins = found.skip === false ? found.paths : undefined;

let registry: RunningRegistry | undefined;
let imgs: StandardTestImages;
let pd: PodDaemon | undefined;
let kubelet: RunningKubelet | undefined;
let scratch: string | undefined;

before(async () => {
  if (skip !== false) return;
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  scratch = await mkdtemp(join(tmpdir(), 'critter-kubelet-ckpt-'));
  pd = await startPodDaemon({ registriesConf: registriesConfText(registry.host), configYaml: `runtime:\n  criu_path: ${JSON.stringify(criu)}\n` });
  kubelet = await startKubelet({ binary: bins!.kubelet, socket: pd.daemon.dirs.socket });
  await waitFor('the kubelet to serve /pods', () => kubelet!.pods(), 60_000);
});

after(async () => {
  await kubelet?.stop();
  await pd?.close();
  await registry?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

test('the kubelet\'s checkpoint API checkpoints a running container on critter, and crictl restores it into a new pod that goes on counting', { skip, timeout: 10 * 60_000 }, async () => {
  const k = kubelet!;
  const crictl = (...args: string[]) => run(bins!.crictl, ['--runtime-endpoint', `unix://${pd!.daemon.dirs.socket}`, '--timeout', '60s', ...args], { timeoutMs: 120_000 });
  const manifest = {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'counter', namespace: NS },
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'counter', image: imgs.busybox.reference, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', COUNTER] }] },
  };
  await writeFile(join(k.manifestDir, '.counter.tmp'), JSON.stringify(manifest));
  await rename(join(k.manifestDir, '.counter.tmp'), join(k.manifestDir, 'counter.yaml'));
  const podName = `counter-${k.nodeName}`;
  const running = await waitFor('the counter container running', async () => {
    const p = (await k.pods()).find((x) => x.metadata.name === podName);
    const s = p?.status.containerStatuses?.[0];
    return s?.state['running'] && s.containerID ? s.containerID.replace(/^[a-z]+:\/\//, '') : undefined;
  }, 120_000);
  const countIn = async (id: string): Promise<number> => Number((await crictl('exec', id, 'cat', '/tmp/n')).stdout.trim());
  await waitFor('the counter past 10', async () => ((await countIn(running).catch(() => 0)) > 10 ? true : undefined), 30_000);

  const answer = JSON.parse(await k.post(`/checkpoint/${NS}/${podName}/counter?timeout=120`)) as { items: string[] };
  const archive = answer.items[0]!;
  assert.equal(answer.items.length, 1, JSON.stringify(answer));
  assert.ok(archive.startsWith(join(k.dir, 'root', 'checkpoints')), `the archive is where the kubelet put it: ${archive}`);
  assert.ok((await stat(archive)).size > 0);
  const atCheckpoint = await countIn(running);
  assert.ok(atCheckpoint > 10, 'the checkpointed container kept running (the kubelet asks for leave-running)');

  // Restore with crictl into a pod of its own, as the README tells an operator to.
  const podJson = join(scratch!, 'pod.json');
  const ctrJson = join(scratch!, 'restore.json');
  await writeFile(podJson, JSON.stringify({ metadata: { name: 'restored', namespace: NS, uid: 'restored-uid', attempt: 0 }, log_directory: join(scratch!, 'logs') }));
  await writeFile(ctrJson, JSON.stringify({ metadata: { name: 'counter' }, image: { image: archive }, log_path: 'counter.log' }));
  const pod = (await crictl('runp', podJson)).stdout.trim();
  const ctr = (await crictl('create', '--no-pull', pod, ctrJson, podJson)).stdout.trim();
  await crictl('start', ctr);
  const info = JSON.parse((await crictl('inspect', ctr)).stdout) as { status: { state: string }; info: Record<string, unknown> };
  assert.equal(info.status.state, 'CONTAINER_RUNNING');
  assert.equal(info.info['restored'], true, JSON.stringify(info.info));
  const restoredCount = await countIn(ctr);
  assert.ok(restoredCount >= atCheckpoint - 10 && restoredCount > 10, `the restored counter goes on from its checkpoint (${restoredCount} after ${atCheckpoint}), not from 1`);
  await waitFor('the restored counter to advance', async () => ((await countIn(ctr)) > restoredCount ? true : undefined), 20_000);

  await crictl('stopp', pod);
  await crictl('rmp', pod);
  await rm(join(k.manifestDir, 'counter.yaml'));
  await waitFor('the kubelet\'s pod removed', async () => (((await pd!.daemon.client.call('ListPodSandbox', {})).items as unknown[]).length === 0 ? true : undefined), 120_000);
});
