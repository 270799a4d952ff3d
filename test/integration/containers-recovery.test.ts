/**
 * Containers outlive the daemon (DESIGN "Process model"): kill -9 the daemon while
 * containers run and while a create is in flight; after a restart every container is in
 * its true state, exits that happened while it was down are recorded, and half-created
 * containers leave no record, mount or read-write layer behind.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { access, open, readdir, readlink, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { run } from '../../src/lib/exec.ts';
import { join } from 'node:path';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startDaemon, type RunningDaemon } from './helpers/daemon.ts';
import { mountsUnder } from './helpers/pod-network.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let registry: RunningRegistry;
let imgs: StandardTestImages;
let d: RunningDaemon | undefined;

before(async () => {
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
});

after(async () => {
  if (d) {
    for (const p of (await d.client.call('ListPodSandbox', {})).items as Any[]) await d.client.call('RemovePodSandbox', { pod_sandbox_id: p.id });
    await d.stop();
  }
  await registry?.stop();
});

const NS = { network: 2, pid: 1, ipc: 0 };

/** True when process `pid` has `path` open. */
async function hasOpen(pid: number, path: string): Promise<boolean> {
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
  for (const fd of fds) if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === path) return true;
  return false;
}

async function until(what: string, fn: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function ctr(name: string, command: string[]): Any {
  return { metadata: { name }, image: { image: imgs.busybox.reference }, command, linux: { security_context: { namespace_options: NS } } };
}

test('after kill -9 and restart, a running container is still RUNNING and an exit during the downtime is recorded', async () => {
  const conf = registriesConfText(registry.host);
  d = await startDaemon({ registriesConf: conf });
  await d.client.call('PullImage', { image: { image: imgs.busybox.reference } });
  const podConfig = { metadata: { name: 'rec', namespace: 'ctr-test', uid: 'rec-uid' }, linux: { security_context: { namespace_options: NS } } };
  const pod = (await d.client.call('RunPodSandbox', { config: podConfig })).pod_sandbox_id as string;
  const create = async (config: Any): Promise<string> => (await d!.client.call('CreateContainer', { pod_sandbox_id: pod, config, sandbox_config: podConfig })).container_id as string;
  const long = await create(ctr('long', ['sleep', '1000']));
  // Exits 5 once the test creates /go in its rootfs, which it does while the daemon is down.
  const short = await create(ctr('short', ['sh', '-c', 'while [ ! -e /go ]; do sleep 0.05; done; exit 5']));
  const never = await create(ctr('never', ['true']));
  await d.client.call('StartContainer', { container_id: long });
  await d.client.call('StartContainer', { container_id: short });
  // A removal whose background teardown the kill may interrupt (recovery finishes it).
  const removed = await create(ctr('removed', ['sleep', '1000']));
  await d.client.call('StartContainer', { container_id: removed });
  await d.client.call('RemoveContainer', { container_id: removed });
  // A create in flight when the daemon dies: its Localhost seccomp profile is a FIFO the
  // test holds open and never writes, so the create blocks reading it (after its rootfs is
  // mounted, before its record is written). The daemon holding the FIFO open proves it is there.
  const fifo = join(d.dirs.base, 'seccomp-fifo');
  await run('mkfifo', [fifo]);
  const writer = await open(fifo, constants.O_RDWR);
  const inflight = { ...ctr('inflight', ['sleep', '1000']), linux: { security_context: { namespace_options: NS, seccomp: { profile_type: 2, localhost_ref: fifo } } } };
  const mountsBefore = new Set(await mountsUnder(join(d.dirs.runRoot, 'containers')));
  const pending = create(inflight).catch((err: unknown) => err);
  await until('the create to block on its profile, its rootfs mounted', async () =>
    (await hasOpen(d!.proc.pid!, fifo)) && (await mountsUnder(join(d!.dirs.runRoot, 'containers'))).some((m) => !mountsBefore.has(m)));
  await d.kill();
  await writer.close();
  assert.ok((await pending) instanceof Error, 'the create never answered');
  // `short` exits 5 while the daemon is down: conmon writes its exit file.
  await writeFile(join(d.dirs.runRoot, 'containers', short, 'rootfs', 'go'), '');
  await until('short\'s exit file', () => access(join(d!.dirs.runRoot, 'exits', short)).then(() => true, () => false));

  d = await startDaemon({ dirs: d.dirs, registriesConf: conf });
  const status = async (id: string): Promise<Any> => (await d!.client.call('ContainerStatus', { container_id: id })).status;
  assert.equal((await status(long)).state, 1, 'still RUNNING');
  const s = await status(short);
  assert.equal(s.state, 2, 'EXITED while the daemon was down');
  assert.equal(s.exit_code, 5);
  assert.equal(s.reason, 'Error');
  assert.equal((await status(never)).state, 0, 'still CREATED');

  const listed = ((await d.client.call('ListContainers', {})).containers as Any[]).map((c) => c.id as string);
  for (const id of [long, short, never]) assert.ok(listed.includes(id));
  assert.ok(!listed.includes(removed));
  const layers = await readdir(join(d.dirs.root, 'overlay-containers'));
  assert.deepEqual(layers.sort(), [...listed].sort(), 'no read-write layer without a container');
  const mounts = (await mountsUnder(join(d.dirs.runRoot, 'containers'))).map((m) => m.split('/').at(-2));
  assert.deepEqual(mounts.sort(), [...listed].sort(), 'no mount without a container');

  // Still controllable after the restart.
  await d.client.call('StopContainer', { container_id: long, timeout: 0 });
  assert.equal((await status(long)).exit_code, 137);
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: pod });
  assert.deepEqual((await d.client.call('ListContainers', {})).containers, []);
  assert.deepEqual(await mountsUnder(join(d.dirs.runRoot, 'containers')), []);
});
