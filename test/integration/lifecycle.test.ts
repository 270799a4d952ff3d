/**
 * Lifecycle backstops against the real daemon (issue 18 items 5 and 7, issue 12 class 5):
 * a run root too long for socket paths, the leftovers of a container in the pod's PID
 * namespace, and an exit that no exit file reports (conmon killed). Host-network pods, so
 * no CNI is needed. Waits poll with a deadline; nothing sleeps hoping to hit a window.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { makeDirs, startDaemon, type RunningDaemon } from './helpers/daemon.ts';
import { memoryCgroupFrom } from '../../src/container/oom.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const POD = 0;
const NODE = 2;
const RUNNING = 1;
const EXITED = 2;

let registry: RunningRegistry;
let imgs: StandardTestImages;
let d: RunningDaemon;
let logDir: string;
let seq = 0;

before(async () => {
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  logDir = await mkdtemp(join(tmpdir(), 'critter-lc-logs-'));
  // A run root far longer than /run/critter: conmon's attach socket path would exceed 107 bytes under it.
  const dirs = await makeDirs();
  dirs.runRoot = join(dirs.base, 'a-run-root-directory-with-a-rather-long-name', 'and-then-some-more', 'run');
  await mkdir(dirs.runRoot, { recursive: true });
  d = await startDaemon({ dirs, registriesConf: registriesConfText(registry.host), configYaml: 'runtime:\n  reconcile_period_seconds: 1\n' });
  await d.client.call('PullImage', { image: { image: imgs.busybox.reference } });
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

async function runPod(pid: number): Promise<{ id: string; config: Any }> {
  const name = `lc${++seq}`;
  const config = {
    metadata: { name, namespace: 'lc-test', uid: `uid-${name}`, attempt: 0 },
    log_directory: join(logDir, name),
    linux: { security_context: { namespace_options: { network: NODE, pid, ipc: POD } } },
  };
  const r = await d.client.call('RunPodSandbox', { config });
  return { id: r.pod_sandbox_id as string, config };
}

async function startContainer(pod: { id: string; config: Any }, pid: number, command: string[]): Promise<string> {
  const config = {
    metadata: { name: `c${++seq}`, attempt: 0 }, image: { image: imgs.busybox.reference }, command, log_path: `c${seq}.log`,
    linux: { security_context: { namespace_options: { network: NODE, pid, ipc: POD } } },
  };
  const { container_id: id } = await d.client.call('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config });
  await d.client.call('StartContainer', { container_id: id });
  return id as string;
}

async function info(id: string): Promise<Any> {
  const r = await d.client.call('ContainerStatus', { container_id: id, verbose: true });
  return { status: r.status, info: JSON.parse(r.info.info as string) };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('StartContainer works under a run root too long for socket paths, and attach\'s socket exists', async () => {
  const pod = await runPod(POD);
  const id = await startContainer(pod, POD, ['sleep', '300']);
  const { status } = await info(id);
  assert.equal(status.state, RUNNING);
  await d.client.call('StopContainer', { container_id: id, timeout: 0 });
  await d.client.call('RemoveContainer', { container_id: id });
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});

test('StopContainer of a container in the pod\'s PID namespace leaves no process in its cgroup', async () => {
  const pod = await runPod(POD);
  // Init backgrounds a child that outlives it: the kernel does not kill it (init is not the namespace's PID 1).
  const id = await startContainer(pod, POD, ['sh', '-c', 'sleep 300 & exec sleep 301']);
  const { info: i } = await info(id);
  const cgroup = memoryCgroupFrom(await readFile(`/proc/${i.pid}/cgroup`, 'utf8'), undefined);
  const procs = (): Promise<string[]> => readFile(join(cgroup, 'cgroup.procs'), 'utf8').then((t) => t.split('\n').filter(Boolean), () => []);
  await until('the background sleep', async () => ((await procs()).length >= 2 ? true : undefined));
  await d.client.call('StopContainer', { container_id: id, timeout: 0 });
  assert.deepEqual(await procs(), [], 'StopContainer answered with nothing left in the cgroup');
  await d.client.call('RemoveContainer', { container_id: id });
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});

test('a container whose conmon is killed is recorded EXITED by the reconcile, without an exit file', async () => {
  const pod = await runPod(POD);
  const id = await startContainer(pod, 1, ['sleep', '300']);
  const { info: i } = await info(id);
  // conmon first, so nobody writes the exit file; then the container's init (a process this test's daemon started).
  process.kill(i.conmonPid as number, 'SIGKILL');
  process.kill(i.pid as number, 'SIGKILL');
  const status = await until('the reconcile to record the exit', async () => {
    const s = (await info(id)).status;
    return s.state === EXITED ? s : undefined;
  });
  assert.match(status.message as string, /conmon is gone/);
  await d.client.call('RemoveContainer', { container_id: id });
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});
