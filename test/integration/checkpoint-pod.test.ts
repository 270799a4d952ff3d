/**
 * CheckpointPod and RestorePod end to end (KEP-5823, issue 14 item 3) in pods on a CNI
 * network: two containers checkpointed as one consistency group and restored into a new
 * pod (its own netns and IP) keep their memory: a counter continues, and a TCP connection
 * between them over the pod's loopback survives the restore (CRIU `--tcp-established`).
 * Bad input, a pod that is not ready, no CRIU, and a daemon killed while the pod is frozen
 * leave no checkpoint and no frozen container. The end-to-end tests need a CRIU that works
 * on this kernel (`criu check`); CRITTER_TEST_CRIU names one other than PATH's.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as Code } from '@grpc/grpc-js';
import { run, runAllowFailure } from '../../src/lib/exec.ts';
import { findExecutable } from '../../src/host/checks.ts';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startPodDaemon, podSandboxConfig, type PodDaemon } from './helpers/pod-network.ts';
import { startDaemon } from './helpers/daemon.ts';
import { writeFailpoint, type FailpointAction } from './helpers/failpoints.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let registry: RunningRegistry;
let imgs: StandardTestImages;
let scratch: string;
let pd: PodDaemon;
let realRunc: string;
let criu: string | undefined;
/** Why the end-to-end tests cannot run here, in CRIU's words; '' when they can. */
let criuUnusable = '';

const CREATED = 0;
const RUNNING = 1;
const POD_NS = { network: 0, pid: 1, ipc: 0 };
/** Counts in memory; the file is only written, so a restored count comes from CRIU's images. */
const COUNTER = 'i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.1; done';
/**
 * A TCP connection inside the pod, over its loopback: a server sends a count, a client
 * writes what it receives to /tmp/recv. The server accepts one connection only, so the
 * numbers go on after the restore only if that very connection survived it.
 */
const TCP_PAIR = [
  'i=0; (while true; do i=$((i+1)); echo $i; sleep 0.1; done | nc -l -p 7000) &',
  // The client's stdin never ends (a FIFO it holds open both ways): busybox nc shuts the connection down at stdin EOF.
  'mkfifo /tmp/in; exec 3<>/tmp/in;',
  'until nc 127.0.0.1 7000 <&3 > /tmp/recv; do sleep 0.1; done; sleep 100000',
].join(' ');

function runcFailpoint(step: string, action: FailpointAction = 'fail') {
  return { dir: join(scratch, 'fp'), name: 'runc', real: realRunc, kind: 'runc' as const, step, action };
}

before(async () => {
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  scratch = await mkdtemp(join(tmpdir(), 'critter-podckpt-'));
  realRunc = (await run('sh', ['-c', 'command -v runc'])).stdout.trim();
  criu = await findExecutable(process.env['CRITTER_TEST_CRIU'] ?? 'criu');
  if (!criu) criuUnusable = 'no criu installed';
  else {
    const r = await runAllowFailure(criu, ['check'], { timeoutMs: 60_000 });
    if (r.exitCode !== 0) criuUnusable = `criu check failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-4).join(' | ')}`;
  }
  if (criuUnusable) console.error(`checkpoint-pod: end-to-end tests SKIPPED: ${criuUnusable}`);
  // runc behind a wrapper that passes everything through until a test arms it.
  const runc = await writeFailpoint(runcFailpoint('none'));
  pd = await startPodDaemon({
    registriesConf: registriesConfText(registry.host),
    configYaml: `runtime:\n  criu_path: ${JSON.stringify(criu ?? 'criu')}\n  handlers:\n    runc:\n      path: ${runc.path}\n      root: ""\n`,
  });
  await pd.daemon.client.call('PullImage', { image: { image: imgs.busybox.reference } });
});

after(async () => {
  await pd?.close();
  await registry?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const grpcError = (code: number, ...needles: string[]) => (err: { code: number; details: string }) => {
  assert.equal(err.code, code, `expected ${Code[code]}, got ${Code[err.code]}: ${err.details}`);
  for (const n of needles) assert.ok(err.details.includes(n), `"${err.details}" should mention ${n}`);
  return true;
};

function podConfig(name: string): Any {
  return podSandboxConfig(name, { log_directory: join(scratch, 'logs', name), linux: { security_context: { namespace_options: POD_NS } } });
}

function containerConfig(name: string, script: string): Any {
  return {
    metadata: { name, attempt: 0 }, image: { image: imgs.busybox.reference }, command: ['sh', '-c', script], log_path: `${name}/0.log`,
    linux: { security_context: { namespace_options: POD_NS } },
  };
}

async function runPodWith(name: string, containers: Any[]): Promise<{ podId: string; config: Any; ids: string[] }> {
  const c = pd.daemon.client;
  const config = podConfig(name);
  const podId = (await c.call('RunPodSandbox', { config })).pod_sandbox_id as string;
  const ids: string[] = [];
  for (const cc of containers) {
    const id = (await c.call('CreateContainer', { pod_sandbox_id: podId, config: cc, sandbox_config: config })).container_id as string;
    await c.call('StartContainer', { container_id: id });
    ids.push(id);
  }
  return { podId, config, ids };
}

async function removePod(podId: string): Promise<void> {
  await pd.daemon.client.call('StopPodSandbox', { pod_sandbox_id: podId }).catch(() => undefined);
  await pd.daemon.client.call('RemovePodSandbox', { pod_sandbox_id: podId });
}

async function lastNumber(id: string, file: string): Promise<number> {
  const r = await pd.daemon.client.call('ExecSync', { container_id: id, cmd: ['tail', '-n', '1', file], timeout: 10 });
  return Number(r.stdout.toString().trim()) || 0;
}

async function waitFor(id: string, file: string, atLeast: number): Promise<number> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const n = await lastNumber(id, file).catch(() => 0);
    if (n >= atLeast) return n;
    if (Date.now() > deadline) throw new Error(`${file} of ${id} did not reach ${atLeast} (at ${n})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function runcStatus(id: string): Promise<string> {
  const r = await runAllowFailure(realRunc, ['--root', join(pd.daemon.dirs.runRoot, 'runtime', 'runc'), 'state', id]);
  return r.exitCode === 0 ? (JSON.parse(r.stdout) as { status: string }).status : `unknown (${r.stderr.trim()})`;
}

async function emptyDir(name: string): Promise<string> {
  const dir = join(scratch, name);
  await mkdir(dir);
  return dir;
}

test('CheckpointPod() and RestorePod() refuse bad input naming the field, and a pod that is not ready', async () => {
  const c = pd.daemon.client;
  const pod = await runPodWith('ckpt-input', [containerConfig('counter', COUNTER)]);
  const other = await runPodWith('ckpt-other', [containerConfig('counter', COUNTER)]);
  try {
    const out = await emptyDir('input-out');
    const ckpt = (over: Any) => c.call('CheckpointPod', { pod_sandbox_id: pod.podId, output_path: out, container_ids: pod.ids, ...over });
    await assert.rejects(ckpt({ output_path: 'relative' }), grpcError(Code.INVALID_ARGUMENT, 'output_path', 'absolute'));
    await assert.rejects(ckpt({ output_path: join(scratch, 'missing') }), grpcError(Code.INVALID_ARGUMENT, 'output_path', 'existing directory'));
    await writeFile(join(out, 'stale'), '');
    await assert.rejects(ckpt({}), grpcError(Code.INVALID_ARGUMENT, 'output_path', 'must be empty'));
    await rm(join(out, 'stale'));
    await assert.rejects(ckpt({ container_ids: [] }), grpcError(Code.INVALID_ARGUMENT, 'container_ids'));
    await assert.rejects(ckpt({ container_ids: [pod.ids[0], pod.ids[0]] }), grpcError(Code.INVALID_ARGUMENT, 'container_ids[1]', 'twice'));
    await assert.rejects(ckpt({ container_ids: [other.ids[0]] }), grpcError(Code.INVALID_ARGUMENT, 'container_ids[0]', 'belongs to pod'));
    await assert.rejects(ckpt({ options: { 'tcp-established': 'false' } }), grpcError(Code.INVALID_ARGUMENT, 'options["tcp-established"]'));
    await assert.rejects(ckpt({ pod_sandbox_id: 'f'.repeat(64) }), grpcError(Code.NOT_FOUND));

    const restore = (over: Any) => c.call('RestorePod', { checkpoint_path: out, config: podConfig('restored-input'), container_configs: [containerConfig('counter', COUNTER)], ...over });
    await assert.rejects(restore({ checkpoint_path: '' }), grpcError(Code.INVALID_ARGUMENT, 'checkpoint_path', 'required'));
    await assert.rejects(restore({}), grpcError(Code.INVALID_ARGUMENT, 'checkpoint_path', 'pod-checkpoint.json'));
    await assert.rejects(restore({ container_configs: [] }), grpcError(Code.INVALID_ARGUMENT, 'container_configs'));

    await c.call('StopPodSandbox', { pod_sandbox_id: pod.podId });
    await assert.rejects(ckpt({}), grpcError(Code.FAILED_PRECONDITION, 'not ready'));
    assert.deepEqual(await readdir(out), [], 'no checkpoint written');
  } finally {
    await removePod(pod.podId);
    await removePod(other.podId);
  }
});

test('CheckpointPod() and RestorePod() without CRIU are FAILED_PRECONDITION naming CRIU; the pod keeps running', async () => {
  const d = await startDaemon({ registriesConf: registriesConfText(registry.host), configYaml: `runtime:\n  criu_path: ${JSON.stringify(join(scratch, 'no-such-criu'))}\n` });
  try {
    await d.client.call('PullImage', { image: { image: imgs.busybox.reference } });
    const config = { ...podConfig('no-criu'), linux: { security_context: { namespace_options: { network: 2, pid: 1, ipc: 0 } } } };
    const podId = (await d.client.call('RunPodSandbox', { config })).pod_sandbox_id as string;
    const cc = { ...containerConfig('counter', COUNTER), linux: { security_context: { namespace_options: { network: 2, pid: 1, ipc: 0 } } } };
    const id = (await d.client.call('CreateContainer', { pod_sandbox_id: podId, config: cc, sandbox_config: config })).container_id as string;
    await d.client.call('StartContainer', { container_id: id });
    const out = await emptyDir('no-criu-out');
    await assert.rejects(d.client.call('CheckpointPod', { pod_sandbox_id: podId, output_path: out, container_ids: [id] }), grpcError(Code.FAILED_PRECONDITION, 'CRIU'));
    assert.deepEqual(await readdir(out), []);
    const st = (await d.client.call('ContainerStatus', { container_id: id })).status as Any;
    assert.equal(st.state, RUNNING);
    // A restore needs CRIU as well: refused before any pod is made. (The manifest is checked first.)
    await writeFile(join(out, 'pod-checkpoint.json'), JSON.stringify({
      format: 'critter.pod-checkpoint', version: 1, runtimeHandler: 'runc', pod: { id: podId, config },
      containers: [{ name: 'counter', id, archive: 'counter.tar', image: { requested: imgs.busybox.reference, id: '', ref: '' }, config: cc }],
    }));
    await writeFile(join(out, 'counter.tar'), '');
    await assert.rejects(d.client.call('RestorePod', { checkpoint_path: out, config: podConfig('no-criu-restored'), container_configs: [cc] }), grpcError(Code.FAILED_PRECONDITION, 'CRIU'));
    assert.equal(((await d.client.call('ListPodSandbox', {})).items as Any[]).length, 1, 'no pod made');
    await d.client.call('StopPodSandbox', { pod_sandbox_id: podId });
    await d.client.call('RemovePodSandbox', { pod_sandbox_id: podId });
  } finally {
    await d.stop();
  }
});

test('a pod checkpointed as one group and restored into a new pod on the CNI network: the counter continues, the TCP connection survives', async (t) => {
  if (criuUnusable) {
    t.skip(criuUnusable);
    return;
  }
  const c = pd.daemon.client;
  const containers = [containerConfig('counter', COUNTER), containerConfig('tcp', TCP_PAIR)];
  const pod = await runPodWith('ckpt-net', containers);
  let restoredPod: string | undefined;
  try {
    const [counter, tcp] = pod.ids as [string, string];
    await waitFor(counter, '/tmp/n', 10);
    await waitFor(tcp, '/tmp/recv', 10);
    const out = await emptyDir('net-out');
    await c.call('CheckpointPod', { pod_sandbox_id: pod.podId, output_path: out, container_ids: pod.ids }, { deadlineMs: 180_000 });
    const dumped = { n: await lastNumber(counter, '/tmp/n'), recv: await lastNumber(tcp, '/tmp/recv') };
    for (const id of pod.ids) assert.equal(await runcStatus(id), 'running', 'resumed after the checkpoint');
    assert.ok(await waitFor(tcp, '/tmp/recv', dumped.recv + 3) > dumped.recv, 'the original connection goes on too');
    assert.deepEqual((await readdir(out)).sort(), ['counter.tar', 'pod-checkpoint.json', 'tcp.tar']);
    const manifest = JSON.parse(await readFile(join(out, 'pod-checkpoint.json'), 'utf8')) as Any;
    assert.equal(manifest.version, 1);
    assert.deepEqual(manifest.containers.map((x: Any) => [x.name, x.archive]), [['counter', 'counter.tar'], ['tcp', 'tcp.tar']]);
    assert.deepEqual(await readdir(join(pd.daemon.dirs.runRoot, 'checkpoint')).catch(() => []), [], 'no work dir left');
    const ipOf = async (id: string) => ((await c.call('PodSandboxStatus', { pod_sandbox_id: id })).status as Any).network.ip as string;
    const oldIp = await ipOf(pod.podId);
    await removePod(pod.podId);

    const config = podConfig('ckpt-net-restored');
    const r = await c.call('RestorePod', { checkpoint_path: out, config, container_configs: containers }, { deadlineMs: 180_000 });
    restoredPod = r.pod_sandbox_id as string;
    const restored = Object.fromEntries((r.restored_containers as Any[]).map((x) => [x.name, x.container_id])) as Record<string, string>;
    assert.deepEqual(Object.keys(restored).sort(), ['counter', 'tcp']);
    for (const id of Object.values(restored)) assert.equal(((await c.call('ContainerStatus', { container_id: id })).status as Any).state, CREATED, 'CREATED until StartContainer');
    assert.match(await ipOf(restoredPod), pd.net.addressPattern, 'the new pod is on the CNI network');
    assert.notEqual(await ipOf(restoredPod), oldIp);

    for (const id of Object.values(restored)) await c.call('StartContainer', { container_id: id });
    const n = await lastNumber(restored['counter']!, '/tmp/n');
    assert.ok(n >= dumped.n, `restored count ${n} continues from the checkpoint's ${dumped.n}, not from 1`);
    assert.ok(await waitFor(restored['counter']!, '/tmp/n', n + 3) > n, 'and keeps counting');
    const recv = await lastNumber(restored['tcp']!, '/tmp/recv');
    assert.ok(recv >= dumped.recv, `received ${recv} continues from ${dumped.recv}`);
    assert.ok(await waitFor(restored['tcp']!, '/tmp/recv', recv + 5) > recv, 'numbers still arrive over the connection made before the checkpoint');
    assert.deepEqual(await readdir(join(pd.daemon.dirs.runRoot, 'checkpoint-markers')).catch(() => []), []);
  } catch (err) {
    t.diagnostic(pd.daemon.logs().split('\n').filter((l) => /checkpoint|restore|CRIU|criu/i.test(l)).slice(-12).join('\n'));
    throw err;
  } finally {
    await removePod(pod.podId).catch(() => undefined);
    if (restoredPod) await removePod(restoredPod);
  }
});

test('RestorePod() refuses restore-time configs that do not describe the checkpointed process, and a failed restore leaves no pod', async (t) => {
  if (criuUnusable) {
    t.skip(criuUnusable);
    return;
  }
  const c = pd.daemon.client;
  const containers = [containerConfig('counter', COUNTER)];
  const pod = await runPodWith('ckpt-match', containers);
  try {
    const out = await emptyDir('match-out');
    await c.call('CheckpointPod', { pod_sandbox_id: pod.podId, output_path: out, container_ids: pod.ids }, { deadlineMs: 120_000 });
    const before = ((await c.call('ListPodSandbox', {})).items as Any[]).length;
    const restore = (configs: Any[]) => c.call('RestorePod', { checkpoint_path: out, config: podConfig('ckpt-match-restored'), container_configs: configs });
    await assert.rejects(restore([{ ...containers[0], command: ['sh', '-c', 'echo other'] }]), grpcError(Code.INVALID_ARGUMENT, 'container_configs[0].command'));
    await assert.rejects(restore([containerConfig('renamed', COUNTER)]), grpcError(Code.INVALID_ARGUMENT, 'container_configs', '"counter"'));
    await assert.rejects(c.call('RestorePod', { checkpoint_path: out, config: podConfig('x'), runtime_handler: 'crun', container_configs: containers }), grpcError(Code.INVALID_ARGUMENT, 'runtime_handler'));
    assert.equal(((await c.call('ListPodSandbox', {})).items as Any[]).length, before, 'no pod made');

    // A failure after the new sandbox exists (the checkpoint's image is gone): the sandbox is removed again.
    await removePod(pod.podId);
    await c.call('RemoveImage', { image: { image: imgs.busybox.reference } });
    try {
      await assert.rejects(restore(containers), grpcError(Code.NOT_FOUND, 'pull it before restoring'));
      assert.equal(((await c.call('ListPodSandbox', {})).items as Any[]).length, before - 1, 'the restore\'s sandbox was removed');
      assert.deepEqual(await readdir(join(pd.daemon.dirs.runRoot, 'checkpoint-markers')), []);
    } finally {
      await c.call('PullImage', { image: { image: imgs.busybox.reference } });
    }
  } finally {
    await removePod(pod.podId);
  }
});

test('a daemon killed while CheckpointPod holds the pod frozen: start-up thaws the containers and removes the partial checkpoint', async (t) => {
  if (criuUnusable) {
    t.skip(criuUnusable);
    return;
  }
  const containers = [containerConfig('counter', COUNTER), containerConfig('second', COUNTER)];
  const pod = await runPodWith('ckpt-crash', containers);
  const fp = await writeFailpoint(runcFailpoint('checkpoint', 'block'));
  try {
    const out = await emptyDir('crash-out');
    const call = pd.daemon.client.call('CheckpointPod', { pod_sandbox_id: pod.podId, output_path: out, container_ids: pod.ids }).catch((err: unknown) => err);
    await fp.reached();
    // Every container is paused before the first dump: the daemon dies with both frozen.
    for (const id of pod.ids) assert.equal(await runcStatus(id), 'paused');
    await pd.restart({ crash: true });
    await call;
    await writeFailpoint(runcFailpoint('none'));
    for (const id of pod.ids) assert.equal(await runcStatus(id), 'running', `${id} thawed by start-up recovery`);
    const before = await lastNumber(pod.ids[0]!, '/tmp/n');
    assert.ok(await waitFor(pod.ids[0]!, '/tmp/n', before + 3) > before, 'counting again');
    assert.deepEqual(await readdir(out), [], 'the partial checkpoint is gone');
    assert.deepEqual(await readdir(join(pd.daemon.dirs.runRoot, 'checkpoint-markers')), []);
    assert.deepEqual(await readdir(join(pd.daemon.dirs.runRoot, 'checkpoint')).catch(() => []), []);
    // And the pod can be checkpointed after all.
    await pd.daemon.client.call('CheckpointPod', { pod_sandbox_id: pod.podId, output_path: out, container_ids: pod.ids }, { deadlineMs: 120_000 });
    assert.ok((await readdir(out)).includes('pod-checkpoint.json'));
  } finally {
    await writeFailpoint(runcFailpoint('none'));
    await removePod(pod.podId);
  }
});

test('CheckpointPod() past the caller\'s deadline: DEADLINE_EXCEEDED, every container resumed, nothing written', async (t) => {
  if (criuUnusable) {
    t.skip(criuUnusable);
    return;
  }
  const containers = [containerConfig('counter', COUNTER), containerConfig('second', COUNTER)];
  const pod = await runPodWith('ckpt-deadline', containers);
  // The first dump never finishes: both containers are paused when the deadline passes.
  const fp = await writeFailpoint(runcFailpoint('checkpoint', 'hang'));
  try {
    const out = await emptyDir('deadline-out');
    await assert.rejects(pd.daemon.client.call('CheckpointPod', { pod_sandbox_id: pod.podId, output_path: out, container_ids: pod.ids }, { deadlineMs: 3000 }),
      grpcError(Code.DEADLINE_EXCEEDED));
    assert.ok((await fp.hits()).length >= 1);
    // The daemon answers the deadline at once and cleans up under its own: wait for the thaw, bounded.
    const until = Date.now() + 20_000;
    while (Date.now() < until && (await Promise.all(pod.ids.map(runcStatus))).some((s) => s !== 'running')) await new Promise((r) => setTimeout(r, 100));
    for (const id of pod.ids) assert.equal(await runcStatus(id), 'running');
    const n = await lastNumber(pod.ids[1]!, '/tmp/n');
    assert.ok(await waitFor(pod.ids[1]!, '/tmp/n', n + 3) > n, 'counting again');
    const settle = Date.now() + 20_000;
    while (Date.now() < settle && (await readdir(join(pd.daemon.dirs.runRoot, 'checkpoint-markers')).catch(() => [])).length > 0) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await readdir(out), []);
    assert.deepEqual(await readdir(join(pd.daemon.dirs.runRoot, 'checkpoint-markers')), []);
  } finally {
    await writeFailpoint(runcFailpoint('none'));
    await removePod(pod.podId);
  }
});
