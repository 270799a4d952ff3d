/**
 * Containers end to end through gRPC against the real daemon: conmon + runc, overlay
 * rootfs from images pulled from a real registry, host-network pods (no CNI needed).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rename, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as Code } from '@grpc/grpc-js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startDaemon, type RunningDaemon } from './helpers/daemon.ts';
import { mountsUnder } from './helpers/pod-network.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let registry: RunningRegistry;
let imgs: StandardTestImages;
let d: RunningDaemon;
let logDir: string;
let podSeq = 0;

const CREATED = 0;
const RUNNING = 1;
const EXITED = 2;

before(async () => {
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  logDir = await mkdtemp(join(tmpdir(), 'critter-ctr-logs-'));
  d = await startDaemon({ registriesConf: registriesConfText(registry.host) });
  for (const img of [imgs.busybox, imgs.user1000, imgs.configured]) await d.client.call('PullImage', { image: { image: img.reference } });
});

after(async () => {
  if (d) {
    for (const c of (await d.client.call('ListContainers', {})).containers as Any[]) await d.client.call('RemoveContainer', { container_id: c.id });
    for (const p of (await d.client.call('ListPodSandbox', {})).items as Any[]) await d.client.call('RemovePodSandbox', { pod_sandbox_id: p.id });
    await d.stop();
  }
  await registry?.stop();
  if (logDir) await rm(logDir, { recursive: true, force: true });
});

const grpcError = (code: number, ...needles: string[]) => (err: { code: number; details: string }) => {
  assert.equal(err.code, code, `expected ${Code[code]}, got ${Code[err.code]}: ${err.details}`);
  for (const n of needles) assert.ok(err.details.includes(n), `"${err.details}" should mention ${n}`);
  return true;
};

function podConfig(name: string): Any {
  return {
    metadata: { name, namespace: 'ctr-test', uid: `uid-${name}`, attempt: 0 },
    log_directory: join(logDir, name),
    linux: { security_context: { namespace_options: { network: 2, pid: 1, ipc: 0 } } },
  };
}

async function runPod(): Promise<{ id: string; config: Any }> {
  const config = podConfig(`pod${++podSeq}`);
  const r = await d.client.call('RunPodSandbox', { config });
  return { id: r.pod_sandbox_id as string, config };
}

function ctrConfig(name: string, image: string, extra: Any = {}): Any {
  return {
    metadata: { name, attempt: 0 },
    image: { image },
    log_path: `${name}/0.log`,
    linux: { security_context: { namespace_options: { network: 2, pid: 1, ipc: 0 } } },
    ...extra,
  };
}

async function create(pod: { id: string; config: Any }, config: Any): Promise<string> {
  const r = await d.client.call('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config });
  return r.container_id as string;
}

async function status(id: string, verbose = false): Promise<Any> {
  const r = await d.client.call('ContainerStatus', { container_id: id, verbose });
  return verbose ? { ...r.status, info: JSON.parse(r.info.info as string) } : r.status;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const waitState = (id: string, state: number, ms?: number): Promise<Any> =>
  waitFor(`container ${id} state ${state}`, async () => { const s = await status(id); return s.state === state ? s : undefined; }, ms);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

test('CreateContainer → CREATED, StartContainer → RUNNING, the CRI log has the output, Stop → EXITED Completed/Error, Remove frees the mount', async () => {
  const pod = await runPod();
  const id = await create(pod, ctrConfig('hello', imgs.busybox.reference, { command: ['sh', '-c', 'echo hello; echo oops >&2; exec sleep 1000'], labels: { app: 'hello' }, annotations: { 'a/b': 'c' } }));
  let s = await status(id);
  assert.equal(s.state, CREATED);
  assert.ok(BigInt(s.created_at) > 0n);
  assert.equal(s.started_at, '0');
  assert.equal(s.log_path, join(pod.config.log_directory, 'hello/0.log'));
  assert.deepEqual(s.labels, { app: 'hello' });
  assert.deepEqual(s.annotations, { 'a/b': 'c' });
  assert.equal(s.image.image, imgs.busybox.reference);
  assert.equal(s.image_ref, imgs.busybox.digestReference);
  assert.equal(s.image_id, imgs.busybox.imageId);
  assert.equal(s.stop_signal, 23, 'SIGTERM by default');
  assert.equal(s.user.linux.uid, '0');
  const runRootMounts = await mountsUnder(d.dirs.runRoot);
  assert.ok(runRootMounts.some((m) => m.includes(id)), 'rootfs is mounted under the run root');

  await assert.rejects(d.client.call('StartContainer', { container_id: 'nope' }), grpcError(Code.NOT_FOUND, 'nope'));
  await d.client.call('StartContainer', { container_id: id });
  s = await status(id, true);
  assert.equal(s.state, RUNNING);
  assert.ok(BigInt(s.started_at) >= BigInt(s.created_at));
  assert.ok(s.info.pid > 0);
  assert.deepEqual(s.info.runtimeSpec.process.args, ['sh', '-c', 'echo hello; echo oops >&2; exec sleep 1000']);
  await assert.rejects(d.client.call('StartContainer', { container_id: id }), grpcError(Code.FAILED_PRECONDITION, 'running'));

  const log = await waitFor('log lines', async () => {
    const text = await readFile(s.log_path, 'utf8').catch(() => '');
    return text.includes('stdout F hello') && text.includes('stderr F oops') ? text : undefined;
  });
  assert.match(log, /^\S+ stdout F hello$/m);

  // sleep as pid 1 ignores SIGTERM: SIGKILL after the 1 s grace.
  const t0 = Date.now();
  await d.client.call('StopContainer', { container_id: id, timeout: 1 });
  assert.ok(Date.now() - t0 >= 900, 'waited for the grace period');
  s = await status(id);
  assert.equal(s.state, EXITED);
  assert.equal(s.exit_code, 137);
  assert.equal(s.reason, 'Error');
  assert.ok(BigInt(s.finished_at) >= BigInt(s.started_at));
  await d.client.call('StopContainer', { container_id: id, timeout: 1 });

  const done = await create(pod, ctrConfig('done', imgs.busybox.reference, { command: ['true'] }));
  await d.client.call('StartContainer', { container_id: done });
  s = await waitState(done, EXITED);
  assert.equal(s.exit_code, 0);
  assert.equal(s.reason, 'Completed');

  await d.client.call('RemoveContainer', { container_id: id });
  await d.client.call('RemoveContainer', { container_id: id });
  await d.client.call('RemoveContainer', { container_id: done });
  // RemoveContainer answers once the container is gone from the API; its mount and
  // read-write layer are deleted right after, in the background.
  assert.equal((await d.client.call('ListContainers', {})).containers.some((c: { id: string }) => c.id === id), false);
  await waitFor('rootfs unmounted and rw layer freed', async () =>
    !(await mountsUnder(d.dirs.runRoot)).some((m) => m.includes(id)) && !(await readdir(join(d.dirs.root, 'overlay-containers'))).includes(id) ? true : undefined);
  await assert.rejects(d.client.call('ContainerStatus', { container_id: id }), grpcError(Code.NOT_FOUND));
  // StopContainer is idempotent too: a removed or never-known id succeeds (critest Idempotence).
  await d.client.call('StopContainer', { container_id: id, timeout: 0 });
  await d.client.call('StopContainer', { container_id: 'never-existed', timeout: 0 });
});

test('CreateContainer validates the pod and the image, and a retry gets the same id', async () => {
  const pod = await runPod();
  await assert.rejects(d.client.call('CreateContainer', { pod_sandbox_id: 'feedfeed', config: ctrConfig('x', imgs.busybox.reference) }), grpcError(Code.NOT_FOUND, 'feedfeed'));
  await assert.rejects(create(pod, ctrConfig('x', `${registry.host}/critter-test/absent:1`)), grpcError(Code.NOT_FOUND, 'absent'));
  await assert.rejects(create(pod, ctrConfig('', imgs.busybox.reference)), grpcError(Code.INVALID_ARGUMENT, 'metadata.name'));
  const config = ctrConfig('retry', imgs.busybox.reference, { command: ['sleep', '100'] });
  const [a, b] = await Promise.all([create(pod, config), create(pod, config)]);
  assert.equal(a, b);
  assert.equal(await create(pod, config), a);
  await assert.rejects(create(pod, { ...config, command: ['sleep', '200'] }), grpcError(Code.ALREADY_EXISTS, 'retry'));
  // By image id too.
  const byId = await create(pod, ctrConfig('byid', imgs.busybox.imageId, { command: ['true'] }));
  assert.equal((await status(byId)).image_id, imgs.busybox.imageId);
  await d.client.call('StopPodSandbox', { pod_sandbox_id: pod.id });
  await assert.rejects(create(pod, ctrConfig('late', imgs.busybox.reference)), grpcError(Code.FAILED_PRECONDITION, pod.id));
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
  await assert.rejects(d.client.call('ContainerStatus', { container_id: a }), grpcError(Code.NOT_FOUND));
});

test('ExecSync returns stdout, stderr and the exit code; a 1 s timeout ends sleep 10', async (t) => {
  const pod = await runPod();
  const id = await create(pod, ctrConfig('exec', imgs.busybox.reference, { command: ['sleep', '1000'] }));
  await assert.rejects(d.client.call('ExecSync', { container_id: id, cmd: ['true'] }), grpcError(Code.FAILED_PRECONDITION, 'not running'));
  await d.client.call('StartContainer', { container_id: id });
  const r = await d.client.call('ExecSync', { container_id: id, cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'] });
  assert.equal(r.stdout.toString(), 'out\n');
  assert.equal(r.stderr.toString(), 'err\n');
  assert.equal(r.exit_code, 3);
  const t0 = Date.now();
  const slow = await d.client.call('ExecSync', { container_id: id, cmd: ['sleep', '10'], timeout: 1 });
  assert.ok(Date.now() - t0 < 5000);
  assert.notEqual(slow.exit_code, 0);
  assert.match(slow.stderr.toString(), /timed out/);
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const s = performance.now();
    assert.equal((await d.client.call('ExecSync', { container_id: id, cmd: ['true'] })).exit_code, 0);
    times.push(performance.now() - s);
  }
  t.diagnostic(`ExecSync true median ${median(times).toFixed(1)} ms over 20`);
  assert.equal((await status(id)).state, RUNNING, 'exec sessions never count as the container exiting');
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});

test('the image StopSignal is used and reported; user ids come from run_as_user and the image User', async () => {
  const pod = await runPod();
  const configured = await create(pod, ctrConfig('configured', imgs.configured.reference, { command: ['sh', '-c', 'trap "echo got-usr1; exit 7" USR1; echo trapped; while true; do sleep 0.1; done'] }));
  await d.client.call('StartContainer', { container_id: configured });
  let s = await status(configured);
  assert.equal(s.stop_signal, 29, 'SIGUSR1 from the image');
  // The trap is set once the container says so; a signal before it would kill the shell.
  await waitFor('the trap to be set', async () => ((await readFile(s.log_path, 'utf8').catch(() => '')).includes('trapped') ? true : undefined));
  await d.client.call('StopContainer', { container_id: configured, timeout: 10 });
  s = await status(configured);
  assert.equal(s.exit_code, 7);
  assert.match(await readFile(s.log_path, 'utf8'), /got-usr1/);

  const asUser = await create(pod, ctrConfig('runas', imgs.busybox.reference, {
    command: ['sleep', '100'],
    linux: { security_context: { run_as_user: { value: 1000 }, namespace_options: { network: 2, pid: 1 } } },
  }));
  assert.equal((await status(asUser)).user.linux.uid, '1000');
  const imageUser = await create(pod, ctrConfig('imageuser', imgs.user1000.reference, { command: ['sleep', '100'] }));
  await d.client.call('StartContainer', { container_id: imageUser });
  assert.equal((await status(imageUser)).user.linux.uid, '1000');
  assert.equal((await d.client.call('ExecSync', { container_id: imageUser, cmd: ['id', '-u'] })).stdout.toString(), '1000\n');
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});

test('ListContainers and StreamContainers filter by id prefix, state, pod id and labels', async () => {
  const p1 = await runPod();
  const p2 = await runPod();
  const a = await create(p1, ctrConfig('a', imgs.busybox.reference, { command: ['sleep', '100'], labels: { tier: 'front' } }));
  const b = await create(p1, ctrConfig('b', imgs.busybox.reference, { command: ['sleep', '100'], labels: { tier: 'back' } }));
  const c = await create(p2, ctrConfig('c', imgs.busybox.reference, { command: ['sleep', '100'], labels: { tier: 'front' } }));
  await d.client.call('StartContainer', { container_id: b });
  const ids = async (filter: Any): Promise<string[]> => ((await d.client.call('ListContainers', { filter })).containers as Any[]).map((x) => x.id as string).sort();
  assert.deepEqual(await ids({ id: a.slice(0, 12) }), [a]);
  assert.deepEqual(await ids({ pod_sandbox_id: p1.id.slice(0, 10) }), [a, b].sort());
  assert.deepEqual(await ids({ state: { state: RUNNING } }), [b]);
  assert.deepEqual(await ids({ label_selector: { tier: 'front' } }), [a, c].sort());
  assert.deepEqual(await ids({ label_selector: { tier: 'front' }, pod_sandbox_id: p2.id }), [c]);
  const streamed = (await d.client.stream('StreamContainers', { filter: { label_selector: { tier: 'front' } } })).flatMap((m) => m.containers as Any[]);
  assert.deepEqual(streamed.map((x) => x.id).sort(), [a, c].sort());
  const entry = ((await d.client.call('ListContainers', { filter: { id: b } })).containers as Any[])[0]!;
  assert.equal(entry.pod_sandbox_id, p1.id);
  assert.equal(entry.image_id, imgs.busybox.imageId);
  assert.equal(entry.metadata.name, 'b');
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: p1.id });
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: p2.id });
  assert.deepEqual(await ids({}), []);
});

test('RemoveImage is refused while a container uses the image', async () => {
  const pod = await runPod();
  const id = await create(pod, ctrConfig('user', imgs.user1000.reference, { command: ['true'] }));
  await assert.rejects(d.client.call('RemoveImage', { image: { image: imgs.user1000.reference } }), grpcError(Code.FAILED_PRECONDITION, 'in use'));
  await d.client.call('RemoveContainer', { container_id: id });
  await d.client.call('RemoveImage', { image: { image: imgs.user1000.reference } });
  await d.client.call('PullImage', { image: { image: imgs.user1000.reference } });
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});

test('a container over its 20 MiB memory limit is reported OOMKilled', async () => {
  const pod = await runPod();
  const id = await create(pod, ctrConfig('oom', imgs.busybox.reference, {
    command: ['sh', '-c', 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo ${#x}'],
    linux: { resources: { memory_limit_in_bytes: String(20 * 1024 * 1024) }, security_context: { namespace_options: { network: 2, pid: 1 } } },
  }));
  const s0 = await status(id);
  assert.equal(s0.resources.linux.memory_limit_in_bytes, String(20 * 1024 * 1024));
  await d.client.call('StartContainer', { container_id: id });
  const s = await waitState(id, EXITED, 30_000);
  assert.equal(s.reason, 'OOMKilled', `exit ${s.exit_code} ${s.reason}`);
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});

test('a container with a hugepage limit for every page size the kernel has starts, as the kubelet sends them (dropped where no hugetlb controller exists)', async () => {
  const sizes = (await readdir('/sys/kernel/mm/hugepages').catch(() => [] as string[]))
    .map((d) => /^hugepages-(\d+)kB$/.exec(d)?.[1]).filter((kb): kb is string => kb !== undefined)
    .map((kb) => (Number(kb) >= 1024 * 1024 ? `${Number(kb) / 1024 / 1024}GB` : `${Number(kb) / 1024}MB`));
  const hugepage_limits = (sizes.length > 0 ? sizes : ['2MB']).map((page_size) => ({ page_size, limit: '0' }));
  const pod = await runPod();
  const id = await create(pod, ctrConfig('huge', imgs.busybox.reference, {
    command: ['sleep', '1000'],
    linux: { resources: { cpu_shares: '2', memory_limit_in_bytes: String(64 * 1024 * 1024), hugepage_limits }, security_context: { namespace_options: { network: 2, pid: 1 } } },
  }));
  await d.client.call('StartContainer', { container_id: id });
  assert.equal((await status(id)).state, RUNNING);
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});

test('StopPodSandbox and RemovePodSandbox kill running containers at once, within crictl\'s 2 s deadline, even one that ignores SIGTERM', async () => {
  const stubborn = ['sh', '-c', 'trap "" TERM; while true; do sleep 1; done'];
  const pod = await runPod();
  const id = await create(pod, ctrConfig('stubborn', imgs.busybox.reference, { command: stubborn }));
  await d.client.call('StartContainer', { container_id: id });
  await d.client.call('StopPodSandbox', { pod_sandbox_id: pod.id }, { deadlineMs: 2000 });
  assert.equal((await status(id)).state, EXITED);
  const pods = (await d.client.call('ListPodSandbox', { filter: { id: pod.id } })).items as Any[];
  assert.equal(pods[0]?.state, 1, 'the pod is NOTREADY');
  const pod2 = await runPod();
  const id2 = await create(pod2, ctrConfig('stubborn', imgs.busybox.reference, { command: stubborn }));
  await d.client.call('StartContainer', { container_id: id2 });
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: pod2.id }, { deadlineMs: 2000 });
  await assert.rejects(status(id2), grpcError(Code.NOT_FOUND));
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id }, { deadlineMs: 2000 });
});

test('UpdateContainerResources applies and shows in status; ReopenContainerLog starts a new file, and fails when not running', async () => {
  const pod = await runPod();
  const id = await create(pod, ctrConfig('logger', imgs.busybox.reference, { command: ['sh', '-c', 'i=0; while true; do echo line$i; i=$((i+1)); sleep 0.05; done'] }));
  await d.client.call('StartContainer', { container_id: id });
  await d.client.call('UpdateContainerResources', { container_id: id, linux: { cpu_shares: '512', memory_limit_in_bytes: String(64 * 1024 * 1024) } });
  const s = await status(id);
  assert.equal(s.resources.linux.cpu_shares, '512');
  assert.equal(s.resources.linux.memory_limit_in_bytes, String(64 * 1024 * 1024));
  const inCgroup = await d.client.call('ExecSync', { container_id: id, cmd: ['cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/cpu/cpu.shares'] });
  assert.equal(inCgroup.stdout.toString(), `${64 * 1024 * 1024}\n512\n`, 'applied to the cgroup');
  await waitFor('first lines', async () => ((await readFile(s.log_path, 'utf8').catch(() => '')).includes('line3') ? true : undefined));
  await rename(s.log_path, `${s.log_path}.1`);
  await d.client.call('ReopenContainerLog', { container_id: id });
  const fresh = await waitFor('new log file', async () => { const t = await readFile(s.log_path, 'utf8').catch(() => ''); return t.includes('stdout F line') ? t : undefined; });
  const old = await readFile(`${s.log_path}.1`, 'utf8');
  const lastOld = Number(/line(\d+)\n$/.exec(old)![1]);
  const firstNew = Number(/line(\d+)/.exec(fresh)![1]);
  assert.equal(firstNew, lastOld + 1, 'no line lost between the files');
  await d.client.call('StopContainer', { container_id: id, timeout: 0 });
  await rm(s.log_path);
  await assert.rejects(d.client.call('ReopenContainerLog', { container_id: id }), grpcError(Code.FAILED_PRECONDITION));
  await assert.rejects(readFile(s.log_path), /ENOENT/);
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});

test('create+start latency', async (t) => {
  const pod = await runPod();
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    const id = await create(pod, ctrConfig(`lat${i}`, imgs.busybox.reference, { command: ['sleep', '100'] }));
    await d.client.call('StartContainer', { container_id: id });
    times.push(performance.now() - t0);
    await d.client.call('StopContainer', { container_id: id, timeout: 0 });
  }
  t.diagnostic(`CreateContainer+StartContainer median ${median(times).toFixed(1)} ms over 20`);
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});

test('an exit is seen through conmon\'s exit file, not left to the periodic reconcile', async () => {
  const pod = await runPod();
  const id = await create(pod, ctrConfig('quick', imgs.busybox.reference, { command: ['sh', '-c', 'sleep 0.5; exit 4'] }));
  await d.client.call('StartContainer', { container_id: id });
  const s = await waitState(id, EXITED);
  const seenNs = BigInt(Date.now()) * 1_000_000n;
  assert.equal(s.exit_code, 4);
  const lagMs = Number(seenNs - BigInt(s.finished_at)) / 1e6;
  // The reconcile runs every 5 s (runtime.reconcile_period_seconds); the watch answers in
  // milliseconds on an idle machine. 1 s tells the two apart even on a loaded one.
  assert.ok(lagMs < 1000, `exit seen ${lagMs} ms after it happened: the exit-file watch missed it`);
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});
