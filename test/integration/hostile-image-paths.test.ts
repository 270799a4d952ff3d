/**
 * Images that try to reach the host through paths (issue 12 classes 1 and 4): an /etc that
 * is a symlink to the host's /etc or a chain of absolute symlinks, a VOLUME and a WorkingDir
 * under a symlink to a host directory, a VOLUME under a file, a layer entry with a name no
 * filesystem holds. Each case asserts the gRPC code, a message naming the value, no host side
 * effect (a canary directory stays empty) and a daemon that keeps serving. Images are built
 * offline and pushed to a local registry.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as Code } from '@grpc/grpc-js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { buildImage, busyboxRootfsLayer, dir, file, pushImage, randomFile, symlink, type ImageConfigSpec, type LayerSpec, type PushedImage } from '../fixtures/image-builder.ts';
import { TEST_REPO_PREFIX } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { makeDirs, startDaemon, type RunningDaemon } from './helpers/daemon.ts';
import { mount } from '../../src/storage/libc.ts';
import { unmountAllUnder } from './helpers/mounts.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const EXITED = 2;
const HOST_NS = { network: 2, pid: 1, ipc: 0 };
/** A name the host's /etc/passwd has (Debian base-passwd) and no test image does. */
const HOST_ONLY_USER = '_apt';
const IMAGE_ONLY_USER = { name: 'app', uid: 4321 };
/** A small filesystem for a daemon root, and an image that cannot fit on it. */
const SMALL_FS = 'size=16m';
const TOO_BIG_BYTES = 24 * 1024 * 1024;

let registry: RunningRegistry;
let d: RunningDaemon;
let work: string;
/** Where the images' absolute symlinks point on the host: nothing may ever appear here. */
let canary: string;
let pod: { id: string; config: Any };
let seq = 0;
const images: Record<string, PushedImage> = {};

async function push(name: string, layers: LayerSpec[], config: ImageConfigSpec = {}): Promise<void> {
  const built = await buildImage({ layers, config: { Cmd: ['sh'], ...config } });
  images[name] = await pushImage(registry, `${TEST_REPO_PREFIX}/hostile-${name}`, 'latest', built);
}

before(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'critter-hostile-paths-'));
  canary = await mkdtemp(join(tmpdir(), 'critter-canary-'));
  const base = await busyboxRootfsLayer();
  const passwd = `root:x:0:0:root:/root:/bin/sh\n${IMAGE_ONLY_USER.name}:x:${IMAGE_ONLY_USER.uid}:${IMAGE_ONLY_USER.uid}::/:/bin/sh\n`;
  await Promise.all([
    // /etc -> /etc: on the host that is the host's /etc; inside the rootfs, a loop.
    push('etc-loop', [base, { entries: [symlink('etc', '/etc')] }]),
    push('etc-loop-user', [base, { entries: [symlink('etc', '/etc')] }], { User: HOST_ONLY_USER }),
    // /etc -> /chain -> /private/etc: absolute symlinks the host would resolve to its own /etc.
    push('etc-chain', [base, {
      entries: [dir('private'), dir('private/etc'), file('private/etc/passwd', passwd), file('private/etc/group', 'root:x:0:\n'),
        symlink('chain', '/private/etc'), symlink('etc', '/chain')],
    }]),
    push('volume-under-symlink', [base, { entries: [symlink('data', canary)] }], {
      Volumes: { '/data/vol': {} }, WorkingDir: '/data/work',
    }),
    push('volume-under-file', [base, { entries: [file('notadir', 'x')] }], { Volumes: { '/notadir/vol': {} } }),
    push('volume-nul', [base], { Volumes: { '/vol\u0000x': {} } }),
    push('volume-long', [base], { Volumes: { [`/${'v'.repeat(5000)}`]: {} } }),
    push('long-name', [base, { entries: [dir('deep'), file(`deep/${'n'.repeat(300)}`, 'x')] }]),
    push('too-big', [{ entries: [dir('data'), randomFile('data/random.bin', TOO_BIG_BYTES, 'critter-too-big')] }]),
  ]);
  d = await startDaemon({ registriesConf: registriesConfText(registry.host) });
  for (const name of ['etc-loop', 'etc-loop-user', 'etc-chain', 'volume-under-symlink', 'volume-under-file', 'volume-nul', 'volume-long']) {
    await d.client.call('PullImage', { image: { image: images[name]!.reference } });
  }
  const config = {
    metadata: { name: 'hostile-paths', namespace: 'hostile', uid: 'uid-hostile-paths', attempt: 0 },
    log_directory: join(work, 'logs'),
    linux: { security_context: { namespace_options: HOST_NS } },
  };
  pod = { id: (await d.client.call('RunPodSandbox', { config })).pod_sandbox_id as string, config };
});

after(async () => {
  if (d) {
    for (const p of (await d.client.call('ListPodSandbox', {})).items as Any[]) {
      await d.client.call('StopPodSandbox', { pod_sandbox_id: p.id });
      await d.client.call('RemovePodSandbox', { pod_sandbox_id: p.id });
    }
    await d.stop();
  }
  await registry?.stop();
  if (work) {
    await unmountAllUnder(work);
    await rm(work, { recursive: true, force: true });
  }
  if (canary) await rm(canary, { recursive: true, force: true });
});

const grpcError = (code: number, ...needles: string[]) => (err: { code: number; details: string }) => {
  assert.equal(err.code, code, `expected ${Code[code]}, got ${Code[err.code]}: ${err.details}`);
  for (const n of needles) assert.ok(err.details.includes(n), `"${err.details}" should mention ${n}`);
  return true;
};

function ctr(image: string, command: string[] | undefined, sc: Any = {}): Any {
  const name = `c${++seq}`;
  return {
    metadata: { name, attempt: 0 },
    image: { image: images[image]!.reference },
    ...(command ? { command } : {}),
    log_path: `${name}.log`,
    linux: { security_context: { namespace_options: HOST_NS, ...sc } },
  };
}

async function create(config: Any): Promise<string> {
  return (await d.client.call('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config })).container_id as string;
}

async function waitExited(id: string): Promise<Any> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const s = (await d.client.call('ContainerStatus', { container_id: id })).status as Any;
    if (s.state === EXITED) return s;
    if (Date.now() > deadline) throw new Error(`container ${id} did not exit`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function stillServing(): Promise<void> {
  const v = await d.client.call('Version', { version: 'v1' });
  assert.equal(v.runtime_api_version, 'v1');
}

async function hostHasUser(name: string): Promise<boolean> {
  return (await readFile('/etc/passwd', 'utf8')).split('\n').some((l) => l.startsWith(`${name}:`));
}

test('CreateContainer with run_as_username never reads the host /etc/passwd through an /etc -> /etc symlink', async () => {
  assert.ok(await hostHasUser('root'));
  await assert.rejects(create(ctr('etc-loop', ['true'], { run_as_username: 'root' })), grpcError(Code.INVALID_ARGUMENT, '"root"', '/etc/passwd'));
  await stillServing();
});

test('CreateContainer with an image User that only the host has fails instead of taking the host uid', async (t) => {
  if (!(await hostHasUser(HOST_ONLY_USER))) return t.skip(`the host has no ${HOST_ONLY_USER} user`);
  await assert.rejects(create(ctr('etc-loop-user', ['true'])), grpcError(Code.INVALID_ARGUMENT, `"${HOST_ONLY_USER}"`, '/etc/passwd'));
  await assert.rejects(create(ctr('etc-chain', ['true'], { run_as_username: HOST_ONLY_USER })), grpcError(Code.INVALID_ARGUMENT, `"${HOST_ONLY_USER}"`));
  await stillServing();
});

test('CreateContainer resolves a user through a chain of absolute /etc symlinks inside the image', async () => {
  const config = ctr('etc-chain', ['sh', '-c', 'id -u'], { run_as_username: IMAGE_ONLY_USER.name });
  const id = await create(config);
  const s = (await d.client.call('ContainerStatus', { container_id: id })).status as Any;
  assert.equal(s.user?.linux?.uid, String(IMAGE_ONLY_USER.uid));
  await d.client.call('StartContainer', { container_id: id });
  const done = await waitExited(id);
  assert.equal(done.exit_code, 0, done.message);
  const log = await readFile(join(work, 'logs', config.log_path as string), 'utf8');
  assert.match(log, new RegExp(` stdout F ${IMAGE_ONLY_USER.uid}$`, 'm'));
  await d.client.call('RemoveContainer', { container_id: id });
});

test('A VOLUME and a WorkingDir under a symlink to a host directory are created inside the rootfs, never on the host', async () => {
  const id = await create(ctr('volume-under-symlink', ['sh', '-c', 'test -d /data/vol && test -d /data/work && test "$(pwd -P)" = "$(readlink /data)/work"']));
  assert.deepEqual(await readdir(canary), [], 'CreateContainer created something in the host directory');
  await d.client.call('StartContainer', { container_id: id });
  const done = await waitExited(id);
  assert.equal(done.exit_code, 0, `the container does not see its volume and work dir inside its rootfs: ${done.message}`);
  assert.deepEqual(await readdir(canary), [], 'StartContainer created something in the host directory');
  await d.client.call('RemoveContainer', { container_id: id });
  await stillServing();
});

test('A VOLUME under a file fails CreateContainer with FAILED_PRECONDITION naming the volume', async () => {
  await assert.rejects(create(ctr('volume-under-file', ['true'])), grpcError(Code.FAILED_PRECONDITION, '"/notadir/vol"', '"/notadir" is not a directory'));
  const left = (await d.client.call('ListContainers', {})).containers as Any[];
  assert.equal(left.length, 0, 'a failed create left a container behind');
  await stillServing();
});

test('A VOLUME with a NUL byte or a name too long fails CreateContainer with FAILED_PRECONDITION and a bounded message', async () => {
  await assert.rejects(create(ctr('volume-nul', ['true'])), grpcError(Code.FAILED_PRECONDITION, 'image volume "/vol\\u0000x"', 'NUL byte'));
  await assert.rejects(create(ctr('volume-long', ['true'])), (err: { code: number; details: string }) => {
    grpcError(Code.FAILED_PRECONDITION, `image volume "/${'v'.repeat(100)}`, '(5001 characters)', 'too long')(err);
    assert.ok(err.details.length < 2048, `unbounded message: ${err.details.length} characters`);
    return true;
  });
  await stillServing();
});

test('PullImage of a layer with a 300-byte name component answers FAILED_PRECONDITION naming the entry, not UNKNOWN', async () => {
  await assert.rejects(
    d.client.call('PullImage', { image: { image: images['long-name']!.reference } }),
    grpcError(Code.FAILED_PRECONDITION, `"deep/${'n'.repeat(100)}`, 'ENAMETOOLONG', '(305 characters)'),
  );
  const listed = (await d.client.call('ListImages', {})).images as Any[];
  assert.ok(!listed.some((i) => (i.repo_tags as string[]).some((t) => t.includes('hostile-long-name'))), 'a failed pull registered the image');
  await stillServing();
});

test('PullImage onto a full filesystem answers RESOURCE_EXHAUSTED naming the entry and the path, not UNKNOWN "Premature close"', async () => {
  const dirs = await makeDirs();
  await mkdir(dirs.root, { recursive: true });
  mount('tmpfs', dirs.root, 'tmpfs', SMALL_FS);
  // stop() unmounts everything under its base, this tmpfs included.
  const small = await startDaemon({ dirs, registriesConf: registriesConfText(registry.host) });
  try {
    await assert.rejects(
      small.client.call('PullImage', { image: { image: images['too-big']!.reference } }),
      grpcError(Code.RESOURCE_EXHAUSTED, 'no space left on device', '"data/random.bin"', dirs.root),
    );
    assert.doesNotMatch(small.logs(), /Premature close/);
    const v = await small.client.call('Version', { version: 'v1' });
    assert.equal(v.runtime_api_version, 'v1');
  } finally {
    await small.stop();
  }
});
