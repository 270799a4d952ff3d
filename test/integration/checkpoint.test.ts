/**
 * Checkpoint and restore end to end (issue 14): a counter container checkpointed with CRIU
 * through runc, restored into a new pod by CreateContainer of the archive, keeps counting
 * from where it was. The failure paths (no CRIU, a stopped container, a timeout) leave no
 * CRIU process, work dir or frozen container behind. The end-to-end tests need a CRIU that
 * works on this kernel (`criu check`); CRITTER_TEST_CRIU names one other than PATH's.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as Code } from '@grpc/grpc-js';
import { runAllowFailure } from '../../src/lib/exec.ts';
import { findExecutable } from '../../src/host/checks.ts';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startDaemon, type RunningDaemon } from './helpers/daemon.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let registry: RunningRegistry;
let imgs: StandardTestImages;
let scratch: string;
let criu: string | undefined;
/** Why the end-to-end tests cannot run here, in CRIU's words; '' when they can. */
let criuUnusable = '';
let podSeq = 0;

const RUNNING = 1;
/** Counts in memory only: the file is written, never read back, so a restored count comes from CRIU's images. */
const COUNTER = 'i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.1; done';

before(async () => {
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  scratch = await mkdtemp(join(tmpdir(), 'critter-checkpoint-'));
  criu = await findExecutable(process.env['CRITTER_TEST_CRIU'] ?? 'criu');
  if (!criu) criuUnusable = 'no criu installed';
  else {
    const r = await runAllowFailure(criu, ['check'], { timeoutMs: 60_000 });
    if (r.exitCode !== 0) criuUnusable = `criu check failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-4).join(' | ')}`;
  }
});

after(async () => {
  await registry?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function daemonWith(criuPath: string): Promise<RunningDaemon> {
  const d = await startDaemon({ registriesConf: registriesConfText(registry.host), configYaml: `runtime:\n  criu_path: ${JSON.stringify(criuPath)}\n` });
  await d.client.call('PullImage', { image: { image: imgs.busybox.reference } });
  return d;
}

async function cleanup(d: RunningDaemon): Promise<void> {
  for (const p of (await d.client.call('ListPodSandbox', {})).items as Any[]) {
    await d.client.call('StopPodSandbox', { pod_sandbox_id: p.id });
    await d.client.call('RemovePodSandbox', { pod_sandbox_id: p.id });
  }
  await d.stop();
}

function podConfig(): Any {
  const name = `ckpt${++podSeq}`;
  return {
    metadata: { name, namespace: 'ckpt-test', uid: `uid-${name}`, attempt: 0 },
    log_directory: join(scratch, 'logs', name),
    linux: { security_context: { namespace_options: { network: 2, pid: 1, ipc: 0 } } },
  };
}

async function runCounter(d: RunningDaemon, pod: { id: string; config: Any }, image: string): Promise<string> {
  const config = {
    metadata: { name: 'counter', attempt: 0 }, image: { image }, command: ['sh', '-c', COUNTER], log_path: 'counter/0.log',
    linux: { security_context: { namespace_options: { network: 2, pid: 1, ipc: 0 } } },
  };
  const r = await d.client.call('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config });
  await d.client.call('StartContainer', { container_id: r.container_id });
  return r.container_id as string;
}

async function runPod(d: RunningDaemon): Promise<{ id: string; config: Any }> {
  const config = podConfig();
  return { id: (await d.client.call('RunPodSandbox', { config })).pod_sandbox_id as string, config };
}

async function count(d: RunningDaemon, id: string): Promise<number> {
  const r = await d.client.call('ExecSync', { container_id: id, cmd: ['cat', '/tmp/n'], timeout: 10 });
  return Number(r.stdout.toString().trim());
}

async function waitForCount(d: RunningDaemon, id: string, atLeast: number): Promise<number> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const n = await count(d, id).catch(() => 0);
    if (n >= atLeast) return n;
    if (Date.now() > deadline) throw new Error(`counter of ${id} did not reach ${atLeast} (at ${n})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Gone, or a zombie: dead, holding nothing (an init that reaps slowly may keep it in the table a while). */
async function isDead(pid: number): Promise<boolean> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const st = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (st === '' || /\) Z /.test(st)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** runc's own view: `paused` would mean a checkpoint left the cgroup frozen. */
async function runcStatus(d: RunningDaemon, id: string): Promise<string> {
  const r = await runAllowFailure('runc', ['--root', join(d.dirs.runRoot, 'runtime', 'runc'), 'state', id]);
  return (JSON.parse(r.stdout) as { status: string }).status;
}

async function leftoverWorkDirs(d: RunningDaemon): Promise<string[]> {
  return readdir(join(d.dirs.runRoot, 'checkpoint')).catch(() => []);
}

const grpcError = (code: number, ...needles: string[]) => (err: { code: number; details: string }) => {
  assert.equal(err.code, code, `expected ${Code[code]}, got ${Code[err.code]}: ${err.details}`);
  for (const n of needles) assert.ok(err.details.includes(n), `"${err.details}" should mention ${n}`);
  return true;
};

test('CheckpointContainer() without CRIU is FAILED_PRECONDITION naming criu and leaves the container running', async () => {
  const d = await daemonWith(join(scratch, 'no-such-criu'));
  try {
    const id = await runCounter(d, await runPod(d), imgs.busybox.reference);
    const location = join(scratch, 'none.tar');
    await assert.rejects(d.client.call('CheckpointContainer', { container_id: id, location }), grpcError(Code.FAILED_PRECONDITION, 'criu'));
    assert.equal(await runcStatus(d, id), 'running');
    assert.deepEqual(await leftoverWorkDirs(d), []);
    await assert.rejects(stat(location));
  } finally {
    await cleanup(d);
  }
});

test('CheckpointContainer() of a stopped container is FAILED_PRECONDITION', async () => {
  const d = await daemonWith(criu ?? 'criu');
  try {
    const id = await runCounter(d, await runPod(d), imgs.busybox.reference);
    await d.client.call('StopContainer', { container_id: id, timeout: 0 });
    await assert.rejects(d.client.call('CheckpointContainer', { container_id: id, location: join(scratch, 'stopped.tar') }), grpcError(Code.FAILED_PRECONDITION, 'running'));
    assert.deepEqual(await leftoverWorkDirs(d), []);
  } finally {
    await cleanup(d);
  }
});

test('CheckpointContainer() past its timeout is DEADLINE_EXCEEDED; CRIU is killed, the container resumed, nothing left', async () => {
  // A criu that knows its version but never answers the runtime's `criu swrk`: the runtime waits until the checkpoint's deadline.
  const pidFile = join(scratch, 'hung-criu.pid');
  const hung = join(scratch, 'hung-criu');
  await writeFile(hung, `#!/bin/sh\nif [ "$1" = --version ]; then echo 'Version: 0.0-hung'; exit 0; fi\necho $$ > ${pidFile}\nexec sleep 120\n`);
  await chmod(hung, 0o755);
  const d = await daemonWith(hung);
  try {
    const id = await runCounter(d, await runPod(d), imgs.busybox.reference);
    const before = await waitForCount(d, id, 1);
    const location = join(scratch, 'timeout.tar');
    await assert.rejects(d.client.call('CheckpointContainer', { container_id: id, location, timeout: 1 }), grpcError(Code.DEADLINE_EXCEEDED, 'did not finish'));
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    assert.ok(pid > 0);
    assert.ok(await isDead(pid), `the hung criu ${pid} was killed`);
    assert.equal(await runcStatus(d, id), 'running');
    assert.ok(await waitForCount(d, id, before + 3) > before, 'the counter goes on: not frozen');
    assert.deepEqual(await leftoverWorkDirs(d), []);
    await assert.rejects(stat(location));
  } finally {
    await cleanup(d);
  }
});

test('CheckpointContainer() then CreateContainer() of the archive: the restored counter continues from where it was', async (t) => {
  if (criuUnusable) {
    t.skip(criuUnusable);
    return;
  }
  const d = await daemonWith(criu!);
  try {
    const podA = await runPod(d);
    const original = await runCounter(d, podA, imgs.busybox.reference);
    // A deletion from the image, for deleted.files.
    await d.client.call('ExecSync', { container_id: original, cmd: ['rm', '/etc/group'] });
    await waitForCount(d, original, 10);
    const location = join(scratch, 'counter.tar');
    await d.client.call('CheckpointContainer', { container_id: original, location, timeout: 120 });
    const dumped = await count(d, original);
    assert.equal(await runcStatus(d, original), 'running', 'left running, not frozen');
    assert.ok(await waitForCount(d, original, dumped + 3) > dumped);
    assert.deepEqual(await leftoverWorkDirs(d), []);
    assert.equal((await stat(location)).mode & 0o777, 0o600, 'the archive holds memory pages: private');

    const members = (await runAllowFailure('tar', ['--list', '--file', location])).stdout.split('\n');
    for (const m of ['config.dump', 'spec.dump', 'rootfs-diff.tar', 'deleted.files', 'checkpoint/inventory.img', 'io.kubernetes.cri-o.LogPath']) {
      assert.ok(members.includes(m) || members.includes(`${m}/`), `archive has ${m}: ${members.join(' ')}`);
    }
    const deleted = (await runAllowFailure('tar', ['--extract', '--to-stdout', '--file', location, 'deleted.files'])).stdout;
    assert.deepEqual(JSON.parse(deleted), ['/etc/group']);

    await d.client.call('StopPodSandbox', { pod_sandbox_id: podA.id });
    await d.client.call('RemovePodSandbox', { pod_sandbox_id: podA.id });

    const podB = await runPod(d);
    const restored = await runCounter(d, podB, location);
    const status = (await d.client.call('ContainerStatus', { container_id: restored, verbose: true })).status as Any;
    assert.equal(status.state, RUNNING);
    const n = await count(d, restored);
    assert.ok(n >= dumped, `restored count ${n} continues from the checkpoint's ${dumped}, not from 1`);
    assert.ok(await waitForCount(d, restored, n + 3) > n, 'and keeps counting');
    const files = await d.client.call('ExecSync', { container_id: restored, cmd: ['ls', '/etc/group'] });
    assert.notEqual(files.exit_code, 0, 'the deletion was replayed');
    const metrics = await (await fetch(d.metricsUrl())).text();
    assert.match(metrics, /critter_checkpoint_operations_total\{operation="checkpoint",outcome="success"\} 1/);
    assert.match(metrics, /critter_checkpoint_operations_total\{operation="restore",outcome="success"\} 1/);
  } catch (err) {
    t.diagnostic(d.logs().split('\n').filter((l) => /checkpoint|restore|CRIU/i.test(l)).slice(-10).join('\n'));
    throw err;
  } finally {
    await cleanup(d);
  }
});

test('CheckpointContainer() with a CRIU that fails on this host reports CRIU\'s own words and leaves the container running', async (t) => {
  if (!criu || !criuUnusable) {
    t.skip(criu ? 'CRIU works here: the failure path is the timeout test\'s' : 'no criu installed');
    return;
  }
  const d = await daemonWith(criu);
  try {
    const id = await runCounter(d, await runPod(d), imgs.busybox.reference);
    const before = await waitForCount(d, id, 1);
    const location = join(scratch, 'failing.tar');
    await assert.rejects(d.client.call('CheckpointContainer', { container_id: id, location, timeout: 60 }), (err: { code: number; details: string }) => {
      t.diagnostic(err.details);
      assert.equal(err.code, Code.FAILED_PRECONDITION, err.details);
      assert.match(err.details, /checkpoint .* failed/);
      return true;
    });
    assert.equal(await runcStatus(d, id), 'running');
    assert.ok(await waitForCount(d, id, before + 3) > before, 'resumed: the counter goes on');
    assert.deepEqual(await leftoverWorkDirs(d), []);
    await assert.rejects(stat(location));
  } finally {
    await cleanup(d);
  }
});
