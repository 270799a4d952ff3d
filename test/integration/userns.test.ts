/**
 * Pod user namespaces through the real daemon (issue 13 item 1, KEP-127 mode POD): the
 * pod's containers run as root of a user namespace with the kubelet's mappings (container
 * 0 → host 100000, 65536 ids); the image's files appear owned by root inside through
 * id-mapped layers while the layers on disk stay owned by host root; a hostPath volume is
 * id-mapped too (a file the pod's root creates is owned by host 0, as KEP-127 describes);
 * the pod's network namespace is owned by its user namespace (sysfs mounts, sysctls set);
 * exec works; with runtime.pause_image the infra process runs from id-mapped layers too;
 * and nothing stays mounted after removal, also after a daemon crash.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as Code } from '@grpc/grpc-js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { mountsUnder, podSandboxConfig, startPodDaemon, type PodDaemon } from './helpers/pod-network.ts';
import { buildImage, busyboxRootfsLayer, pushImage } from '../fixtures/image-builder.ts';
import { writeFailpoint } from './helpers/failpoints.ts';
import { run } from '../../src/lib/exec.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const POD = 0;
const CONTAINER = 1;
const NODE = 2;
const HOST_BASE = 100000;
const MAPPING = [{ container_id: 0, host_id: HOST_BASE, length: 65536 }];
const USERNS = { mode: POD, uids: MAPPING, gids: MAPPING };

let registry: RunningRegistry;
let imgs: StandardTestImages;
let pd: PodDaemon;
let tmp: string;
let seq = 0;

const c = () => pd.daemon.client;

before(async () => {
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  tmp = await mkdtemp(join(tmpdir(), 'critter-userns-'));
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

const grpcError = (code: number, ...needles: string[]) => (err: { code: number; details: string }) => {
  assert.equal(err.code, code, `expected ${Code[code]}, got ${Code[err.code]}: ${err.details}`);
  for (const n of needles) assert.ok(err.details.includes(n), `"${err.details}" should mention ${n}`);
  return true;
};

function podConfig(name: string, nsExtra: Any = {}, sysctls: Any = { 'net.ipv4.ip_unprivileged_port_start': '42' }): Any {
  return podSandboxConfig(name, {
    log_directory: join(tmp, name), hostname: `${name}-host`,
    linux: { sysctls, security_context: { namespace_options: { network: POD, pid: POD, ipc: POD, userns_options: USERNS, ...nsExtra } } },
  });
}

async function runPod(name: string, nsExtra: Any = {}): Promise<{ id: string; config: Any }> {
  const config = podConfig(name, nsExtra);
  const r = await c().call('RunPodSandbox', { config });
  return { id: r.pod_sandbox_id as string, config };
}

async function runContainer(pod: { id: string; config: Any }, mounts: Any[] = [], pid = POD): Promise<string> {
  const name = `c${++seq}`;
  const config = {
    metadata: { name, attempt: 0 }, image: { image: imgs.busybox.reference }, command: ['sleep', '3600'], log_path: `${name}.log`, mounts,
    linux: { security_context: { namespace_options: { ...pod.config.linux.security_context.namespace_options, pid } } },
  };
  const id = (await c().call('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config })).container_id as string;
  await c().call('StartContainer', { container_id: id });
  return id;
}

async function sh(id: string, script: string): Promise<{ code: number; out: string; err: string }> {
  const r = await c().call('ExecSync', { container_id: id, cmd: ['sh', '-c', script], timeout: 10 });
  return { code: r.exit_code as number, out: r.stdout.toString(), err: r.stderr.toString() };
}

/**
 * Mounts the daemon made for pods: namespace pins, overlays, id-mapped staging places (not
 * the namespace dirs themselves, made private once for the daemon's life).
 */
const daemonMounts = async (): Promise<string[]> => (await mountsUnder(pd.daemon.dirs.base)).filter((m) => !/\/run\/(user|net|uts|ipc)ns$/.test(m));

async function removePodOn(client: PodDaemon['daemon']['client'], id: string): Promise<void> {
  await client.call('StopPodSandbox', { pod_sandbox_id: id });
  await client.call('RemovePodSandbox', { pod_sandbox_id: id });
}

const removePod = (id: string): Promise<void> => removePodOn(c(), id);

test('Status reports the user_namespaces feature for the runc handler on this host', async () => {
  const res = await c().call('Status', { verbose: false });
  const handlers = res.runtime_handlers as Any[];
  assert.ok(handlers.length > 0);
  // runc lists `user` in `runc features`; crun 1.8 has no `features` command, so it is not claimed.
  for (const h of handlers) assert.equal(h.features.user_namespaces, h.name !== 'crun', `handler "${h.name}"`);
  assert.equal(res.features.user_namespaces_host_network, false);
});

test('a pod with mappings runs its containers as the mapped root; the image and a hostPath volume appear owned by root', async () => {
  const mountsBefore = await daemonMounts();
  const vol = join(tmp, 'vol');
  await mkdir(vol, { recursive: true });
  await writeFile(join(vol, 'from-host'), 'host file\n');
  const pod = await runPod('mapped');
  const id = await runContainer(pod, [{ container_path: '/vol', host_path: vol, readonly: false }]);

  assert.match((await sh(id, 'cat /proc/self/uid_map')).out, /^\s+0\s+100000\s+65536\n$/);
  assert.match((await sh(id, 'cat /proc/self/gid_map')).out, /^\s+0\s+100000\s+65536\n$/);
  assert.deepEqual(await sh(id, 'id -u; id -g'), { code: 0, out: '0\n0\n', err: '' });
  // The infra process (PID 1 of the shared PID namespace) is in the same user namespace.
  assert.equal((await sh(id, 'cat /proc/1/uid_map')).out, (await sh(id, 'cat /proc/self/uid_map')).out);
  assert.deepEqual(await sh(id, 'stat -c "%u:%g" /bin/busybox /etc /'), { code: 0, out: '0:0\n0:0\n0:0\n', err: '' });
  // Writes to the rootfs land in the upper dir as the host ids the pod's root maps to.
  assert.equal((await sh(id, 'echo new > /new-file && mkdir /new-dir && stat -c "%u" /new-file')).out, '0\n');
  const bundleRootfs = join(pd.daemon.dirs.runRoot, 'containers', id, 'rootfs');
  assert.equal((await stat(join(bundleRootfs, 'new-file'))).uid, HOST_BASE, 'the host sees the mapped owner in the rootfs');
  assert.equal((await stat(join(pd.daemon.dirs.root, 'overlay-containers', id, 'upper', 'new-file'))).uid, HOST_BASE);
  assert.equal((await stat(join(bundleRootfs, 'bin', 'busybox'))).uid, HOST_BASE, 'the overlay shows image files through the id-mapped layer');

  // The hostPath volume: a host file owned by 0 is root's inside, and what root writes is host 0's on disk.
  assert.deepEqual(await sh(id, 'stat -c "%u:%g" /vol /vol/from-host && cat /vol/from-host'), { code: 0, out: '0:0\n0:0\nhost file\n', err: '' });
  assert.equal((await sh(id, 'echo from-pod > /vol/from-pod && chown 1000:1000 /vol/from-host && echo ok')).out, 'ok\n');
  assert.equal((await stat(join(vol, 'from-pod'))).uid, 0);
  assert.equal(await readFile(join(vol, 'from-pod'), 'utf8'), 'from-pod\n');
  assert.deepEqual([(await stat(join(vol, 'from-host'))).uid, (await stat(join(vol, 'from-host'))).gid], [1000, 1000], 'chown inside writes the same ids on disk');

  // The network namespace is owned by the pod's user namespace: sysfs mounts, the sysctl and hostname were set in it.
  assert.equal((await sh(id, 'cat /proc/sys/net/ipv4/ip_unprivileged_port_start')).out, '42\n');
  assert.equal((await sh(id, 'hostname')).out, 'mapped-host\n');
  assert.match((await sh(id, 'ls /sys/class/net')).out, /eth0/);
  // Root of the pod is not root of the host: it cannot change what the host's root owns.
  assert.notEqual((await sh(id, 'echo 1 > /proc/sys/kernel/domainname 2>/dev/null; cat /proc/sys/vm/overcommit_memory > /dev/null; echo 0 > /proc/sys/vm/overcommit_ratio 2>/dev/null')).code, 0);
  // A container with its own PID namespace joins the pod's user namespace too; an image
  // volume is a plain read-only bind (an overlay cannot be id-mapped): readable, owned by nobody.
  const own = await runContainer(pod, [{ container_path: '/iv', image: { image: imgs.busybox.reference }, readonly: true }], CONTAINER);
  assert.match((await sh(own, 'cat /proc/self/uid_map; id -u')).out, /^\s+0\s+100000\s+65536\n0\n$/);
  assert.deepEqual(await sh(own, 'stat -c %u /iv/bin/busybox && /iv/bin/busybox true && echo ran'), { code: 0, out: '65534\nran\n', err: '' });

  assert.deepEqual((await daemonMounts()).filter((m) => m.includes('/idmap/')), [], 'no id-mapped staging mount outlives a create');
  await c().call('RemoveContainer', { container_id: id });
  await c().call('RemoveContainer', { container_id: own });
  await removePod(pod.id);
  assert.deepEqual(await daemonMounts(), mountsBefore, 'the pod leaves no mount behind');
});

test('RunPodSandbox refuses a user namespace the CRI or this runtime cannot give, naming why', async () => {
  const wrong = (name: string, ns: Any) => c().call('RunPodSandbox', { config: podConfig(name, ns, {}) });
  await assert.rejects(wrong('hostnet', { network: NODE }), grpcError(Code.UNIMPLEMENTED, 'host network'));
  await assert.rejects(wrong('hostipc', { ipc: NODE }), grpcError(Code.INVALID_ARGUMENT, 'namespace_options.ipc'));
  await assert.rejects(wrong('ctrmode', { userns_options: { mode: CONTAINER } }), grpcError(Code.INVALID_ARGUMENT, 'userns_options.mode'));
  await assert.rejects(wrong('nozero', { userns_options: { mode: POD, uids: [{ container_id: 1, host_id: HOST_BASE, length: 10 }], gids: MAPPING } }), grpcError(Code.INVALID_ARGUMENT, 'container id 0'));
  assert.deepEqual((await c().call('ListPodSandbox', {})).items, []);
});

test('CreateContainer refuses a container that asks for another user namespace than its pod', async () => {
  const pod = await runPod('mismatch');
  const config = (ns: Any) => ({ metadata: { name: `m${++seq}`, attempt: 0 }, image: { image: imgs.busybox.reference }, command: ['true'], linux: { security_context: { namespace_options: ns } } });
  const other = [{ container_id: 0, host_id: 200000, length: 65536 }];
  await assert.rejects(c().call('CreateContainer', { pod_sandbox_id: pod.id, config: config({ network: POD, pid: POD, ipc: POD, userns_options: { mode: POD, uids: other, gids: other } }), sandbox_config: pod.config }),
    grpcError(Code.INVALID_ARGUMENT, 'userns_options.uids'));
  await assert.rejects(c().call('CreateContainer', { pod_sandbox_id: pod.id, config: config({ network: POD, pid: NODE, ipc: POD, userns_options: USERNS }), sandbox_config: pod.config }),
    grpcError(Code.INVALID_ARGUMENT, 'pid'));
  await removePod(pod.id);
});

test('after a daemon crash the pod and its containers are removed with every mount and pin', async () => {
  const mountsBefore = await daemonMounts();
  const pod = await runPod('crash');
  const id = await runContainer(pod);
  assert.ok((await daemonMounts()).some((m) => m.endsWith(join('userns', pod.id))), 'the user namespace is pinned');
  await pd.restart({ crash: true });
  assert.equal((await sh(id, 'id -u')).out, '0\n', 'exec into the recovered container works');
  await c().call('RemoveContainer', { container_id: id });
  await removePod(pod.id);
  assert.deepEqual(await daemonMounts(), mountsBefore);
});

test('with runtime.pause_image the infra process runs from the image\'s id-mapped layers in the pod\'s user namespace', async () => {
  const image = await buildImage({ layers: [await busyboxRootfsLayer()], config: { Entrypoint: ['/bin/sleep', '36000'], User: '65535:65535' } });
  await pushImage(registry, 'critter-test/userns-pause', '1', image);
  const pause = await startPodDaemon({ extraArgs: ['--registries-conf', join(tmp, 'registries.conf')], configYaml: `runtime:\n  pause_image: "registry.k8s.io/critter-test/userns-pause:1"\n` });
  try {
    const client = pause.daemon.client;
    const config = podConfig('pause-userns');
    const podId = (await client.call('RunPodSandbox', { config })).pod_sandbox_id as string;
    const infraPid = JSON.parse((await client.call('PodSandboxStatus', { pod_sandbox_id: podId, verbose: true })).info.info as string).infraPid as number;
    assert.ok(infraPid > 0, 'the pod has an infra process');
    assert.match(await readFile(`/proc/${infraPid}/uid_map`, 'utf8'), /^\s+0\s+100000\s+65536\n$/);
    // The image's user 65535 inside is host 165535; its files appear owned by root inside.
    const status = (await readFile(`/proc/${infraPid}/status`, 'utf8')).match(/^Uid:\s+(\d+)/m)![1];
    assert.equal(status, String(HOST_BASE + 65535));
    const infraRootfs = join(pause.daemon.dirs.runRoot, 'pods', podId, 'infra', 'rootfs');
    assert.equal((await stat(join(infraRootfs, 'bin', 'busybox'))).uid, HOST_BASE);
    await client.call('StopPodSandbox', { pod_sandbox_id: podId });
    await client.call('RemovePodSandbox', { pod_sandbox_id: podId });
    assert.deepEqual((await mountsUnder(pause.daemon.dirs.base)).filter((m) => m.includes(podId) || m.includes('/idmap/')), []);
  } finally {
    await pause.close();
  }
});

test('as critest does: a container printing its uid_map exits 0 and its log shows the pod\'s mapping', async () => {
  const mapping = [{ container_id: 0, host_id: 1000, length: 100000 }];
  const config = podSandboxConfig('critest-like', {
    log_directory: join(tmp, 'critest-like'), dns_config: {},
    linux: { security_context: { namespace_options: { userns_options: { mode: POD, uids: mapping, gids: mapping } } } },
  }) as Any;
  const podId = (await c().call('RunPodSandbox', { config })).pod_sandbox_id as string;
  const ctr = {
    metadata: { name: 'uidmap', attempt: 0 }, image: { image: imgs.busybox.reference }, command: ['cat', '/proc/self/uid_map'], log_path: 'uidmap.log',
    linux: { security_context: { namespace_options: config.linux.security_context.namespace_options } },
  };
  const id = (await c().call('CreateContainer', { pod_sandbox_id: podId, config: ctr, sandbox_config: config })).container_id as string;
  await c().call('StartContainer', { container_id: id });
  let status: Any = {};
  for (let i = 0; i < 100 && status.state !== 2; i++) {
    status = (await c().call('ContainerStatus', { container_id: id })).status;
    if (status.state !== 2) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(status.state, 2, 'CONTAINER_EXITED');
  assert.equal(status.exit_code, 0);
  assert.match(await readFile(join(tmp, 'critest-like', 'uidmap.log'), 'utf8'), /stdout F\s+0\s+1000\s+100000\n/);
  await c().call('RemoveContainer', { container_id: id });
  await removePod(podId);
});

test('a daemon crash while runc create holds id-mapped binds: the restart detaches them before anything else', async () => {
  const realRunc = (await run('sh', ['-c', 'command -v runc'])).stdout.trim();
  const runc = await writeFailpoint({ dir: join(tmp, 'fp'), name: 'runc', real: realRunc, kind: 'runc', step: 'create', action: 'block' });
  const fp = await startPodDaemon({
    extraArgs: ['--registries-conf', join(tmp, 'registries.conf')],
    configYaml: `runtime:\n  handlers:\n    runc:\n      path: ${runc.path}\n      root: ""\n`,
  });
  try {
    let client = fp.daemon.client;
    await client.call('PullImage', { image: { image: imgs.busybox.reference } });
    // pid CONTAINER: no infra process, so the container's create is the first runc create.
    const config = podConfig('fp-crash', { pid: CONTAINER }, {});
    const podId = (await client.call('RunPodSandbox', { config })).pod_sandbox_id as string;
    const vol = join(tmp, 'fp-vol');
    await mkdir(vol, { recursive: true });
    await writeFile(join(vol, 'keep'), 'kept\n');
    const ctr = {
      metadata: { name: 'blocked', attempt: 0 }, image: { image: imgs.busybox.reference }, command: ['sleep', '3600'],
      mounts: [{ container_path: '/vol', host_path: vol }], linux: { security_context: { namespace_options: config.linux.security_context.namespace_options } },
    };
    const id = (await client.call('CreateContainer', { pod_sandbox_id: podId, config: ctr, sandbox_config: config })).container_id as string;
    const started = client.call('StartContainer', { container_id: id }).catch((err: unknown) => err);
    await runc.reached();
    const staging = (await mountsUnder(fp.daemon.dirs.base)).filter((m) => m.includes('/idmap/'));
    assert.deepEqual(staging, [join(fp.daemon.dirs.runRoot, 'idmap', id, 'v0')], 'the hostPath is staged id-mapped during runc create');
    await fp.restart({ crash: true });
    await started;
    assert.deepEqual((await mountsUnder(fp.daemon.dirs.base)).filter((m) => m.includes('/idmap/')), [], 'the restart detached the staged bind');
    assert.equal(await readFile(join(vol, 'keep'), 'utf8'), 'kept\n', 'and removed nothing through it');
    await runc.release();
    client = fp.daemon.client;
    await client.call('RemoveContainer', { container_id: id });
    await removePodOn(client, podId);
    assert.deepEqual((await mountsUnder(fp.daemon.dirs.base)).filter((m) => m.includes(podId) || m.includes('/idmap/')), []);
  } finally {
    await runc.release();
    await fp.close();
  }
});
