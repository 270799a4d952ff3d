/**
 * SandboxService against the real host: unshare-pinned namespaces, the CNI bridge,
 * host-local and portmap plugins, tmpfs shm. Root only. Every test network uses its own
 * bridge name, subnet, conf dir and IPAM data dir, and the suite removes the bridge and
 * the iptables chains it caused.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { pino } from 'pino';
import { run } from '../../src/lib/exec.ts';
import { createPodNetwork, iptablesRules, type PodNetwork, readFromPort, writeFailingPlugin } from '../integration/helpers/pod-network.ts';
import { CniConfigWatcher } from '../../src/network/cni-config.ts';
import { CniManager } from '../../src/network/cni.ts';
import { NamespaceManager } from '../../src/network/netns.ts';
import { mountPoints } from '../../src/lib/mount-points.ts';
import { RecordStore } from '../../src/state/record-store.ts';
import { PodFiles } from '../../src/sandbox/pod-files.ts';
import { SandboxService } from '../../src/sandbox/sandbox-service.ts';
import { sandboxStatusResponse } from '../../src/sandbox/sandbox-view.ts';
import type { SandboxMetadata, SandboxStatusRecord } from '../../src/sandbox/sandbox-record.ts';
import type { PodSandboxConfig__Output } from '../../src/generated/cri/runtime/v1/PodSandboxConfig.ts';

const log = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
const op = { log, signal: new AbortController().signal };
let root: string;
let net: PodNetwork;
let failNet: PodNetwork;

interface Stack { service: SandboxService; watcher: CniConfigWatcher; ns: NamespaceManager }

async function buildService(confDir: string, pluginDirs = ['/usr/lib/cni']): Promise<Stack> {
  const watcher = new CniConfigWatcher({ confDir, log });
  await watcher.start();
  const ns = new NamespaceManager({ runRoot: join(root, 'run'), log });
  const service = new SandboxService({
    runRoot: join(root, 'run'), runtimeHandlers: ['runc'], defaultHandler: 'runc', cgroupDriver: 'cgroupfs', log,
    cni: new CniManager({ configs: watcher, pluginDirs, cacheDir: join(root, 'cni-cache') }),
    namespaces: ns,
    files: new PodFiles({ hostResolvConf: '/etc/resolv.conf', hostHosts: '/etc/hosts' }),
    records: new RecordStore<SandboxMetadata, SandboxStatusRecord>({ dir: join(root, 'pods'), kind: 'pod' }),
    containers: { stopAllInPod: async () => {}, removeAllInPod: async () => {} },
    clock: { nowNs: () => BigInt(Date.now()) * 1_000_000n },
  });
  await service.recover(op);
  return { service, watcher, ns };
}

function podConfig(name: string, extra: Partial<PodSandboxConfig__Output> = {}): PodSandboxConfig__Output {
  return {
    metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 },
    hostname: '', log_directory: '', dns_config: null, port_mappings: [], labels: { app: name }, annotations: { 'a/b': 'c' },
    linux: null, windows: null, ...extra,
  };
}

let stack: Stack;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'critter-sandbox-'));
  net = await createPodNetwork({ confDir: join(root, 'net.d') });
  stack = await buildService(join(root, 'net.d'));
});

after(async () => {
  stack?.watcher.close();
  for (const rec of stack?.service.list() ?? []) await stack.service.remove(op, rec.id).catch(() => undefined);
  await stack?.ns.unmountDirs(op).catch(() => undefined);
  // Reverse order of creation: each restores the ip_forward value it found.
  await failNet?.cleanup();
  await net?.cleanup();
  await rm(root, { recursive: true, force: true });
});

test('SandboxService.run() pins namespaces, sets hostname and sysctls, attaches the pod and publishes its hostPort', async () => {
  const hostPort = 20000 + (randomBytes(2).readUInt16BE() % 10000);
  const id = await stack.service.run(op, podConfig('web', {
    hostname: 'web-host',
    port_mappings: [{ protocol: 0, container_port: 8080, host_port: hostPort, host_ip: '' }],
    linux: { cgroup_parent: '/kubepods/podweb', security_context: null, sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0' }, overhead: null, resources: null },
  }), '');
  const status = sandboxStatusResponse(stack.service.get(id), true, 0n).status!;
  assert.equal(status.state, 0);
  const ip = status.network?.ip ?? '';
  assert.match(ip, net.addressPattern);
  const netns = stack.ns.pathOf('net', id);
  const addr = await run('nsenter', [`--net=${netns}`, 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
  assert.ok(addr.stdout.includes(`${ip}/24`), addr.stdout);
  await run('busybox', ['ping', '-c', '1', '-W', '2', ip]);
  assert.equal((await run('nsenter', [`--uts=${stack.ns.pathOf('uts', id)}`, 'hostname'])).stdout.trim(), 'web-host');
  assert.equal((await run('nsenter', [`--net=${netns}`, 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start'])).stdout.trim(), '0');
  assert.equal((await readFile('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8')).trim(), '1024', 'the host must be untouched');
  const runDir = stack.service.get(id).metadata.runDir;
  assert.match(await readFile(join(runDir, 'hosts'), 'utf8'), new RegExp(`${ip.replace(/\./g, '\\.')}\\tweb-host`));
  assert.ok((await mountPoints()).has(join(runDir, 'shm')));

  const listener = spawn('nsenter', [`--net=${netns}`, 'socat', 'TCP-LISTEN:8080,reuseaddr', 'EXEC:/bin/echo hello-from-pod'], { stdio: 'ignore' });
  try {
    const reply = await readFromPort('127.0.0.1', hostPort);
    assert.equal(reply.trim(), 'hello-from-pod');
  } finally {
    listener.kill('SIGKILL');
  }

  assert.deepEqual(await net.leasedIps(), [ip]);
  await stack.service.stop(op, id);
  await stack.service.stop(op, id);
  assert.deepEqual(await net.leasedIps(), [], 'stop frees the IP');
  assert.equal(sandboxStatusResponse(stack.service.get(id), false, 0n).status!.state, 1);
  assert.ok(!(await mountPoints()).has(join(runDir, 'shm')));
  await stack.service.remove(op, id);
  await stack.service.remove(op, id);
  assert.deepEqual(await readdir(join(root, 'run', 'netns')), []);
});

test('SandboxService run/stop/remove cycles leave no netns file, mount, IP or iptables rule', async () => {
  const warm = await stack.service.run(op, podConfig('warm', { port_mappings: [{ protocol: 0, container_port: 80, host_port: 30080, host_ip: '' }] }), '');
  await stack.service.remove(op, warm);
  const rulesBefore = await iptablesRules();
  const mountsBefore = await mountPoints();
  for (let i = 0; i < 20; i++) {
    const id = await stack.service.run(op, podConfig(`cycle-${i}`, { port_mappings: [{ protocol: 0, container_port: 80, host_port: 30080, host_ip: '' }] }), '');
    await stack.service.stop(op, id);
    await stack.service.remove(op, id);
  }
  assert.deepEqual(await iptablesRules(), rulesBefore);
  // Only this test's own root: other daemons on the machine may mount meanwhile.
  assert.deepEqual([...(await mountPoints())].filter((m) => !mountsBefore.has(m) && m.startsWith(root)), []);
  for (const kind of ['netns', 'ipcns', 'utsns']) assert.deepEqual(await readdir(join(root, 'run', kind)), [], kind);
  assert.deepEqual(await net.leasedIps(), []);
  assert.deepEqual(await readdir(join(root, 'pods')), []);
  assert.deepEqual(await readdir(join(root, 'cni-cache')), []);
});

test('SandboxService.run() unwinds everything when a CNI plugin in the chain fails', async () => {
  const pluginDir = join(root, 'fail-plugins');
  await writeFailingPlugin(pluginDir, 'crtfail', 'injected failure', 'test');
  const confDir = join(root, 'fail.d');
  failNet = await createPodNetwork({ confDir, extraPlugins: [{ type: 'crtfail' }] });
  const failing = await buildService(confDir, [pluginDir, '/usr/lib/cni']);
  try {
    const rulesBefore = await iptablesRules();
    await assert.rejects(failing.service.run(op, podConfig('doomed'), ''), /injected failure: test/);
    assert.deepEqual(failing.service.list(), []);
    assert.deepEqual(await failNet.leasedIps(), []);
    assert.deepEqual(await iptablesRules(), rulesBefore);
    for (const kind of ['netns', 'ipcns', 'utsns']) assert.deepEqual(await readdir(join(root, 'run', kind)), [], kind);
    assert.deepEqual(await readdir(join(root, 'pods')), []);
    // The name was released: a later attempt is a fresh pod, not "name is reserved".
    await assert.rejects(failing.service.run(op, podConfig('doomed'), ''), /injected failure/);
  } finally {
    failing.watcher.close();
  }
});

test('SandboxService.recover() on the same roots sees the pod with the same id, state and IP', async () => {
  const id = await stack.service.run(op, podConfig('survivor'), '');
  const ip = sandboxStatusResponse(stack.service.get(id), false, 0n).status?.network?.ip ?? '';
  const restarted = await buildService(join(root, 'net.d'));
  try {
    const status = sandboxStatusResponse(restarted.service.get(id.slice(0, 12)), false, 0n).status!;
    assert.equal(status.id, id);
    assert.equal(status.state, 0);
    assert.equal(status.network!.ip, ip);
    assert.deepEqual(await net.leasedIps(), [ip], 'start-up GC keeps live attachments');
    assert.equal(await restarted.service.run(op, podConfig('survivor'), ''), id, 'a retry after restart gets the same id');
    await restarted.service.remove(op, id);
    assert.deepEqual(await net.leasedIps(), []);
  } finally {
    restarted.watcher.close();
  }
});
