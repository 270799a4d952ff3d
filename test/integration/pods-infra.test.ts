/**
 * The pod infra process through the real daemon (DESIGN "Pod sandboxes"): a pod with
 * pid = POD gets `catatonit -P` as PID 1 of a shared PID namespace, inside the pod's
 * pinned network namespace; containers join it; stop, remove, restart and an infra that
 * dies behave as containerd and CRI-O do (a pod whose sandbox process died is NOTREADY).
 * With runtime.pause_image set, the infra process runs that image instead (containerd's
 * model), pulled through the daemon's registries.conf when absent.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as Code } from '@grpc/grpc-js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { mountsUnder, podSandboxConfig, podStatusVerbose, startPodDaemon, type PodDaemon } from './helpers/pod-network.ts';
import { buildImage, file, pushImage } from '../fixtures/image-builder.ts';
import { run } from '../../src/lib/exec.ts';
import type { CriClient } from './helpers/cri-client.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const READY = 0;
const NOTREADY = 1;
const POD = 0;
const CONTAINER = 1;

let registry: RunningRegistry;
let imgs: StandardTestImages;
let pd: PodDaemon;
let tmp: string;

const c = () => pd.daemon.client;

before(async () => {
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  tmp = await mkdtemp(join(tmpdir(), 'critter-infra-'));
  const conf = join(tmp, 'registries.conf');
  await writeFile(conf, registriesConfText(registry.host));
  pd = await startPodDaemon({ extraArgs: ['--registries-conf', conf] });
  await c().call('PullImage', { image: { image: imgs.busybox.reference } });
});

after(async () => {
  if (pd) {
    for (const ctr of (await c().call('ListContainers', {})).containers as Any[]) await c().call('RemoveContainer', { container_id: ctr.id });
    await pd.close();
  }
  await registry?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function runPod(name: string, pid = POD, runtimeHandler = ''): Promise<{ id: string; config: Any }> {
  const config = podSandboxConfig(name, { log_directory: join(tmp, name), linux: { security_context: { namespace_options: { network: POD, pid, ipc: POD } } } });
  const r = await c().call('RunPodSandbox', { config, runtime_handler: runtimeHandler });
  return { id: r.pod_sandbox_id as string, config };
}

async function infraOf(podId: string): Promise<{ pid: number; info: Any; state: number }> {
  const { status, info } = await podStatusVerbose(c(), podId);
  return { pid: (info as Any).infraPid as number, info, state: status.state as number };
}

async function runContainer(pod: { id: string; config: Any }, name: string, command: string[]): Promise<string> {
  const config = {
    metadata: { name, attempt: 0 }, image: { image: imgs.busybox.reference }, command, log_path: `${name}.log`,
    linux: { security_context: { namespace_options: { network: POD, pid: POD, ipc: POD } } },
  };
  const id = (await c().call('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config })).container_id as string;
  await c().call('StartContainer', { container_id: id });
  return id;
}

async function exec(id: string, cmd: string[]): Promise<string> {
  const r = await c().call('ExecSync', { container_id: id, cmd, timeout: 10 });
  assert.equal(r.exit_code, 0, `${cmd.join(' ')}: ${Buffer.from(r.stderr).toString()}`);
  return Buffer.from(r.stdout).toString();
}

const alive = (pid: number): Promise<boolean> => readFile(`/proc/${pid}/stat`, 'utf8').then((s) => !/\) [ZX] /.test(s), () => false);
const nsOf = (pid: number | 'self', kind: string): Promise<string> => readlink(`/proc/${pid}/ns/${kind}`);

/** PIDs of conmon processes monitoring runtime id `id`. */
async function conmonsFor(id: string): Promise<number[]> {
  const out: number[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const argv = (await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv[0]?.endsWith('conmon') && argv.includes(id)) out.push(Number(p));
  }
  return out;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('RunPodSandbox() with pid = POD starts catatonit in the pod\'s namespaces, and its containers share one PID namespace', async () => {
  const pod = await runPod('shared-pid');
  const { pid, info, state } = await infraOf(pod.id);
  assert.equal(state, READY);
  assert.ok(pid > 0, `verbose info has an infra pid: ${JSON.stringify(info)}`);
  assert.ok(await alive(pid));
  assert.deepEqual((await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean), ['/catatonit', '-P']);
  assert.equal(await nsOf(pid, 'net'), `net:[${(await stat(info.namespaces.net)).ino}]`, 'infra is in the pod netns');
  assert.equal(await nsOf(pid, 'ipc'), `ipc:[${(await stat(info.namespaces.ipc)).ino}]`, 'infra is in the pod ipc ns');
  assert.equal(await nsOf(pid, 'uts'), `uts:[${(await stat(info.namespaces.uts)).ino}]`, 'infra is in the pod uts ns');
  assert.notEqual(await nsOf(pid, 'pid'), await nsOf('self', 'pid'), 'infra has its own PID namespace');
  assert.equal((await readFile(`/proc/${pid}/status`, 'utf8')).match(/^CapEff:\s*(\S+)$/m)?.[1], '0000000000000000', 'no capabilities');
  assert.match(await readFile(`/proc/${pid}/status`, 'utf8'), /^NoNewPrivs:\s*1$/m);

  const a = await runContainer(pod, 'a', ['sleep', '1001']);
  const b = await runContainer(pod, 'b', ['sleep', '1002']);
  const ps = await exec(a, ['ps', '-o', 'pid,args']);
  assert.match(ps, /^\s*1\s+\/catatonit -P\s*$/m, `pid 1 is catatonit:\n${ps}`);
  assert.match(ps, /sleep 1002/, `container a sees container b's process:\n${ps}`);
  assert.match(await exec(b, ['ps', '-o', 'pid,args']), /sleep 1001/);
  const ctrPid = JSON.parse((await c().call('ContainerStatus', { container_id: a, verbose: true })).info.info as string).pid as number;
  assert.equal(await nsOf(ctrPid, 'pid'), await nsOf(pid, 'pid'));

  // A restart (even a crash) keeps the pod READY with the same infra process.
  await pd.restart({ crash: true });
  const again = await infraOf(pod.id);
  assert.equal(again.state, READY);
  assert.equal(again.pid, pid);
  assert.match(await exec(a, ['ps', '-o', 'pid,args']), /sleep 1002/);

  const conmons = await conmonsFor(pod.id);
  assert.equal(conmons.length, 1, 'one conmon monitors the infra process');
  await c().call('StopPodSandbox', { pod_sandbox_id: pod.id });
  assert.equal(await alive(pid), false, 'StopPodSandbox ends the infra process');
  assert.equal((await infraOf(pod.id)).state, NOTREADY);
  await waitFor('infra conmon to exit', async () => ((await conmonsFor(pod.id)).length === 0 ? true : undefined));
  await c().call('StopPodSandbox', { pod_sandbox_id: pod.id });

  await c().call('RemovePodSandbox', { pod_sandbox_id: pod.id });
  await assert.rejects(stat(info.runDir), { code: 'ENOENT' }, 'the pod run dir (with the infra bundle) is gone');
  assert.deepEqual((await mountsUnder(pd.daemon.dirs.runRoot)).filter((m) => m.includes(pod.id)), []);
  assert.deepEqual(await conmonsFor(pod.id), []);
  await assert.rejects(stat(`/sys/fs/cgroup/pids/crt-${pod.id}`), { code: 'ENOENT' }, 'the infra cgroup is removed');
});

test('a pod whose infra process is killed is reported NOTREADY, and new pid = POD containers are refused naming the pod', async () => {
  const pod = await runPod('killed-infra');
  const { pid } = await infraOf(pod.id);
  process.kill(pid, 'SIGKILL');
  await waitFor('pod NOTREADY', async () => ((await infraOf(pod.id)).state === NOTREADY ? true : undefined), 5_000);
  await assert.rejects(runContainer(pod, 'late', ['sleep', '1']), (err: { code: number; details: string }) => {
    assert.equal(err.code, Code.FAILED_PRECONDITION, err.details);
    assert.ok(err.details.includes(pod.id), err.details);
    return true;
  });
  await c().call('StopPodSandbox', { pod_sandbox_id: pod.id });
  await c().call('RemovePodSandbox', { pod_sandbox_id: pod.id });
  assert.deepEqual(await conmonsFor(pod.id), []);
});

test('an infra process that dies while the daemon is down leaves its pod NOTREADY after the restart', async () => {
  const pod = await runPod('died-while-down');
  const { pid } = await infraOf(pod.id);
  await pd.daemon.stop({ keepDirs: true });
  process.kill(pid, 'SIGKILL');
  await waitFor('infra gone', async () => ((await alive(pid)) ? undefined : true));
  await pd.restart();
  assert.equal((await infraOf(pod.id)).state, NOTREADY);
  await c().call('RemovePodSandbox', { pod_sandbox_id: pod.id });
  assert.deepEqual(await conmonsFor(pod.id), []);
});

test('RunPodSandbox() runs the infra process with the pod\'s runtime handler (crun)', async (t) => {
  let pod: { id: string; config: Any };
  try {
    pod = await runPod('crun-infra', POD, 'crun');
  } catch (err) {
    // crun refuses cgroup v1 hosts whose v2 hierarchy also has controllers ("hybrid mode").
    if (!/hybrid mode/.test(String(err))) throw err;
    assert.deepEqual((await c().call('ListPodSandbox', {})).items, [], 'the failed RunPodSandbox unwound');
    assert.deepEqual(await readdir(join(pd.daemon.dirs.runRoot, 'pods')), []);
    t.skip(`crun cannot run containers on this host: ${String(err)}`);
    return;
  }
  const { pid, state } = await infraOf(pod.id);
  assert.equal(state, READY);
  assert.deepEqual((await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean), ['/catatonit', '-P']);
  const ctr = await runContainer(pod, 'crun-ctr', ['sleep', '1003']);
  assert.match(await exec(ctr, ['cat', '/proc/1/cmdline']), /^\/catatonit/);
  await c().call('RemovePodSandbox', { pod_sandbox_id: pod.id });
  assert.equal(await alive(pid), false);
  assert.deepEqual(await conmonsFor(pod.id), []);
});

test('RunPodSandbox() with pid = CONTAINER starts no infra process', async () => {
  const pod = await runPod('own-pid', CONTAINER);
  const { pid, state } = await infraOf(pod.id);
  assert.equal(state, READY);
  assert.equal(pid, 0);
  assert.deepEqual(await conmonsFor(pod.id), []);
  await c().call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});

/** The pause image: the project's pause.c, statically linked, as registry.k8s.io/pause ships it. */
async function pushPauseImage(repo: string): Promise<string> {
  const bin = join(tmp, 'pause');
  await run('gcc', ['-static', '-O2', '-o', bin, new URL('../../../test/critest/images/src/pause.c', import.meta.url).pathname], { timeoutMs: 60_000 });
  const image = await buildImage({
    layers: [{ entries: [file('pause', await readFile(bin), { mode: 0o755 })] }],
    config: { Entrypoint: ['/pause'], User: '65535:65535' },
  });
  await pushImage(registry, repo, '3.10', image);
  return `registry.k8s.io/${repo}:3.10`;
}

/** A daemon with `runtime.pause_image` set, reaching the test registry through registries.conf. */
async function startPauseImageDaemon(ref: string): Promise<PodDaemon> {
  return startPodDaemon({ extraArgs: ['--registries-conf', join(tmp, 'registries.conf')], configYaml: `runtime:\n  pause_image: "${ref}"\n` });
}

async function runPodOn(client: CriClient, name: string): Promise<{ id: string; config: Any }> {
  const config = podSandboxConfig(name, { log_directory: join(tmp, name), linux: { security_context: { namespace_options: { network: POD, pid: POD, ipc: POD } } } });
  const r = await client.call('RunPodSandbox', { config, runtime_handler: '' });
  return { id: r.pod_sandbox_id as string, config };
}

async function psOn(client: CriClient, pod: { id: string; config: Any }, name: string, command: string[]): Promise<{ id: string; ps: () => Promise<string> }> {
  const config = {
    metadata: { name, attempt: 0 }, image: { image: imgs.busybox.reference }, command, log_path: `${name}.log`,
    linux: { security_context: { namespace_options: { network: POD, pid: POD, ipc: POD } } },
  };
  const id = (await client.call('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config })).container_id as string;
  await client.call('StartContainer', { container_id: id });
  return {
    id,
    ps: async () => {
      const r = await client.call('ExecSync', { container_id: id, cmd: ['ps', '-o', 'pid,user,args'], timeout: 10 });
      assert.equal(r.exit_code, 0, Buffer.from(r.stderr).toString());
      return Buffer.from(r.stdout).toString();
    },
  };
}

test('RunPodSandbox() with runtime.pause_image pulls the image and runs its Entrypoint as its user in an overlay rootfs, and the image stays pinned and in use', async () => {
  const ref = await pushPauseImage('critter-test/pause');
  const pause = await startPauseImageDaemon(ref);
  const client = pause.daemon.client;
  try {
    await client.call('PullImage', { image: { image: imgs.busybox.reference } });
    const pod = await runPodOn(client, 'pause-image');
    const { status, info } = await podStatusVerbose(client, pod.id);
    assert.equal(status.state, READY);
    const pid = (info as Any).infraPid as number;
    assert.ok(pid > 0, `verbose info has an infra pid: ${JSON.stringify(info)}`);
    assert.deepEqual((await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean), ['/pause']);
    assert.match(await readlink(`/proc/${pid}/exe`), /\/pause$/);
    const procStatus = await readFile(`/proc/${pid}/status`, 'utf8');
    assert.match(procStatus, /^Uid:\s+65535\s+65535\s+65535\s+65535$/m, 'runs as the image config\'s user');
    assert.match(procStatus, /^Gid:\s+65535\s/m);
    assert.equal(procStatus.match(/^CapEff:\s*(\S+)$/m)?.[1], '0000000000000000', 'no capabilities');
    assert.match(procStatus, /^NoNewPrivs:\s*1$/m);
    assert.equal(await nsOf(pid, 'net'), `net:[${(await stat(info.namespaces.net!)).ino}]`, 'infra is in the pod netns');
    const rootfs = join(info.runDir, 'infra', 'rootfs');
    assert.ok((await mountsUnder(pause.daemon.dirs.runRoot)).includes(rootfs), 'the image rootfs is mounted under the pod run dir');

    const pinned = await client.call('ImageStatus', { image: { image: ref } });
    assert.equal(pinned.image?.pinned, true, 'the pause image is reported pinned');
    await assert.rejects(client.call('RemoveImage', { image: { image: ref } }), (err: { code: number; details: string }) => {
      assert.equal(err.code, Code.FAILED_PRECONDITION, err.details);
      return true;
    });

    const a = await psOn(client, pod, 'a', ['sleep', '1011']);
    const b = await psOn(client, pod, 'b', ['sleep', '1012']);
    const ps = await a.ps();
    assert.match(ps, /^\s*1\s+65535\s+\/pause\s*$/m, `pid 1 is the pause binary:\n${ps}`);
    assert.match(ps, /sleep 1012/, `container a sees container b's process:\n${ps}`);
    assert.match(await b.ps(), /sleep 1011/);

    // After a crash the pod keeps its infra process, and the image stays in use.
    await pause.restart({ crash: true });
    const client2 = pause.daemon.client;
    assert.equal(((await podStatusVerbose(client2, pod.id)).info as Any).infraPid, pid);
    await assert.rejects(client2.call('RemoveImage', { image: { image: ref } }), (err: { code: number }) => err.code === Code.FAILED_PRECONDITION);

    await client2.call('StopPodSandbox', { pod_sandbox_id: pod.id });
    assert.equal(await alive(pid), false, 'StopPodSandbox ends the infra process');
    assert.equal((await mountsUnder(pause.daemon.dirs.runRoot)).includes(rootfs), false, 'StopPodSandbox unmounts the image rootfs');
    await waitFor('infra conmon to exit', async () => ((await conmonsFor(pod.id)).length === 0 ? true : undefined));
    for (const ctr of [a.id, b.id]) await client2.call('RemoveContainer', { container_id: ctr });
    await client2.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
    assert.deepEqual((await mountsUnder(pause.daemon.dirs.runRoot)).filter((m) => m.includes(pod.id)), []);
    assert.deepEqual(await conmonsFor(pod.id), []);
    assert.equal((await client2.call('ImageStatus', { image: { image: ref } })).image?.pinned, true, 'still pinned once no pod uses it');
  } finally {
    await pause.close();
  }
});

test('RunPodSandbox() with a runtime.pause_image that cannot be pulled fails with the pull\'s error and leaves nothing behind', async () => {
  const ref = 'registry.k8s.io/critter-test/absent-pause:3.10';
  const pause = await startPauseImageDaemon(ref);
  const client = pause.daemon.client;
  try {
    await assert.rejects(runPodOn(client, 'absent-pause'), (err: { code: number; details: string }) => {
      assert.equal(err.code, Code.NOT_FOUND, err.details);
      assert.ok(err.details.includes('absent-pause'), err.details);
      return true;
    });
    assert.deepEqual((await client.call('ListPodSandbox', {})).items, []);
    assert.deepEqual(await readdir(join(pause.daemon.dirs.runRoot, 'pods')), []);
    assert.deepEqual((await mountsUnder(pause.daemon.dirs.runRoot)).filter((m) => m.includes('/pods/')), []);
  } finally {
    await pause.close();
  }
});
