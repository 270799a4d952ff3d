/**
 * Rollback and retry paths against the real daemon, driven by failpoint wrappers around
 * the real bridge/portmap plugins and runc (issue 18 items 2 and 8): a CNI ADD slower than
 * the caller's deadline, a CNI ADD that fails after the bridge took a lease, and a runc
 * create that fails. Every wait polls with a deadline or a wrapper's marker; no sleeps.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as Code } from '@grpc/grpc-js';
import { run, runAllowFailure } from '../../src/lib/exec.ts';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { mountsUnder, podSandboxConfig, startPodDaemon, type PodDaemon } from './helpers/pod-network.ts';
import { writeFailpoint } from './helpers/failpoints.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const READY = 0;
const EXITED = 2;
const REAL_CNI = '/usr/lib/cni';

let registry: RunningRegistry;
let imgs: StandardTestImages;
let pd: PodDaemon;
let fpDir: string;
let realRunc: string;

before(async () => {
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  fpDir = await mkdtemp(join(tmpdir(), 'critter-fp-'));
  realRunc = (await run('sh', ['-c', 'command -v runc'])).stdout.trim();
  // The daemon's runc is a wrapper, passing everything through until a test arms it.
  const runc = await writeFailpoint(runcFailpoint('none'));
  pd = await startPodDaemon({
    registriesConf: registriesConfText(registry.host),
    configYaml: `runtime:\n  handlers:\n    runc:\n      path: ${runc.path}\n      root: ""\n`,
    extraArgs: ['--cni-plugin-dir', join(fpDir, 'cni'), '--cni-plugin-dir', REAL_CNI],
  });
  await pd.daemon.client.call('PullImage', { image: { image: imgs.busybox.reference } });
});

after(async () => {
  await pd?.close();
  await registry?.stop();
  if (fpDir) await rm(fpDir, { recursive: true, force: true });
});

function runcFailpoint(step: string): Parameters<typeof writeFailpoint>[0] {
  return { dir: join(fpDir, 'runtime'), name: 'runc', real: realRunc, kind: 'runc', step, action: 'fail', message: 'failpoint: runc create refused' };
}

/** What a pod can leave on the host and in the daemon's dirs. */
async function podLeftovers(): Promise<Any> {
  const { runRoot, root } = pd.daemon.dirs;
  const ls = (dir: string) => readdir(dir).catch(() => [] as string[]);
  return {
    netns: await ls(join(runRoot, 'netns')), records: await ls(join(root, 'pods')), leases: await pd.net.leasedIps(),
    rules: await pd.net.iptablesRules(), ports: await pd.net.bridgePorts(),
  };
}

test('RunPodSandbox() whose CNI ADD outlasts the caller\'s deadline goes on, and the retry gets the same READY pod', async () => {
  const c = pd.daemon.client;
  const add = await writeFailpoint({ dir: join(fpDir, 'cni'), name: 'bridge', real: join(REAL_CNI, 'bridge'), kind: 'cni', step: 'ADD', action: 'block' });
  const before = await podLeftovers();
  try {
    const config = podSandboxConfig('slow-add');
    await assert.rejects(c.call('RunPodSandbox', { config }, { deadlineMs: 2000 }), (err: { code: number }) => err.code === Code.DEADLINE_EXCEEDED);
    await add.reached();
    const retry = c.call('RunPodSandbox', { config });
    await add.release();
    const id = (await retry).pod_sandbox_id as string;
    assert.deepEqual(await add.hits(), [id], 'the retry got the pod whose ADD the first call started, and ADD ran once');
    const status = (await c.call('PodSandboxStatus', { pod_sandbox_id: id })).status;
    assert.equal(status.state, READY);
    assert.match(status.network.ip as string, pd.net.addressPattern);
    assert.deepEqual(((await c.call('ListPodSandbox', {})).items as Any[]).map((p) => p.id), [id]);
    assert.equal((await podLeftovers()).leases.length, 1);
    await c.call('RemovePodSandbox', { pod_sandbox_id: id });
    assert.deepEqual(await podLeftovers(), before);
  } finally {
    await rm(add.path, { force: true });
  }
});

test('RunPodSandbox() whose CNI ADD fails after the bridge took a lease leaves no netns, lease, iptables rule or record', async () => {
  const c = pd.daemon.client;
  // portmap's shared chains appear on first use and stay: make them before comparing.
  const warm = (await c.call('RunPodSandbox', { config: podSandboxConfig('warm', { port_mappings: [{ protocol: 0, container_port: 80, host_port: 30997 }] }) })).pod_sandbox_id as string;
  await c.call('RemovePodSandbox', { pod_sandbox_id: warm });
  const before = await podLeftovers();
  const portmap = await writeFailpoint({ dir: join(fpDir, 'cni'), name: 'portmap', real: join(REAL_CNI, 'portmap'), kind: 'cni', step: 'ADD', action: 'fail', message: 'portmap failpoint' });
  try {
    const config = podSandboxConfig('add-fails', { port_mappings: [{ protocol: 0, container_port: 80, host_port: 30996 }] });
    await assert.rejects(c.call('RunPodSandbox', { config }), (err: { details: string }) => /portmap failpoint/.test(err.details));
    assert.equal((await portmap.hits()).length, 1, 'the failpoint was reached, after the bridge plugin ran');
    assert.deepEqual(await podLeftovers(), before);
    assert.deepEqual((await c.call('ListPodSandbox', {})).items, []);
  } finally {
    await rm(portmap.path, { force: true });
  }
});

test('StartContainer() whose runc create fails leaves no runtime container or conmon; RemoveContainer then leaves no mount or record', async () => {
  const c = pd.daemon.client;
  // pid CONTAINER: no infra process, so the container's is the only runc create.
  const podConfig = podSandboxConfig('runc-fails', { linux: { security_context: { namespace_options: { network: 0, pid: 1, ipc: 0 } } } });
  const runc = await writeFailpoint(runcFailpoint('create'));
  const pod = (await c.call('RunPodSandbox', { config: podConfig })).pod_sandbox_id as string;
  const config = { metadata: { name: 'doomed' }, image: { image: imgs.busybox.reference }, command: ['sleep', '1000'], linux: podConfig['linux'] };
  const id = (await c.call('CreateContainer', { pod_sandbox_id: pod, config, sandbox_config: podConfig })).container_id as string;
  await assert.rejects(c.call('StartContainer', { container_id: id }), (err: { details: string }) => /runc create refused/.test(err.details));
  assert.deepEqual(await runc.hits(), [id]);
  await writeFailpoint(runcFailpoint('none'));
  const s = (await c.call('ContainerStatus', { container_id: id })).status;
  assert.equal(s.state, EXITED);
  assert.equal(s.reason, 'StartError');
  const runcRoot = join(pd.daemon.dirs.runRoot, 'runtime', 'runc');
  const listed = (await runAllowFailure(realRunc, ['--root', runcRoot, 'list', '-q'])).stdout.split('\n').filter(Boolean);
  assert.ok(!listed.includes(id), 'runc keeps no container');
  const conmons = (await runAllowFailure('pgrep', ['-f', `conmon.*${id}`])).stdout.trim();
  assert.equal(conmons, '', 'no conmon left for it');
  await c.call('RemoveContainer', { container_id: id });
  await c.call('RemovePodSandbox', { pod_sandbox_id: pod });
  const { root, runRoot } = pd.daemon.dirs;
  assert.deepEqual(await mountsUnder(join(runRoot, 'containers')), []);
  assert.deepEqual(await readdir(join(root, 'containers')).catch(() => []), []);
  assert.deepEqual(await readdir(join(root, 'overlay-containers')).catch(() => []), []);
});
