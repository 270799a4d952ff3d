/**
 * Pod sandboxes through the real daemon over gRPC (issue "Pod sandboxes and CNI
 * networking", tests item): RunPodSandbox, PodSandboxStatus, ListPodSandbox,
 * StreamPodSandboxes, StopPodSandbox and RemovePodSandbox on a private CNI bridge network.
 * What a pod looks like from the host (netns, IP, hostname, sysctls, resolv.conf,
 * hostPort) is checked with nsenter in the namespaces the verbose status names.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { status as Code } from '@grpc/grpc-js';
import { run } from '../../src/lib/exec.ts';
import { iptablesRules, podSandboxConfig, podStatusVerbose, readFromPort, startPodDaemon, type PodDaemon } from './helpers/pod-network.ts';

const READY = 0;
const NOTREADY = 1;

let pd: PodDaemon;
before(async () => {
  pd = await startPodDaemon();
});
after(async () => {
  await pd?.close();
});

const call = (rpc: string, req: Record<string, unknown>) => pd.daemon.client.call(rpc, req);
const runPod = async (config: Record<string, unknown>, runtimeHandler = ''): Promise<string> =>
  (await call('RunPodSandbox', { config, runtime_handler: runtimeHandler })).pod_sandbox_id as string;
const removePod = async (id: string): Promise<void> => {
  await call('StopPodSandbox', { pod_sandbox_id: id });
  await call('RemovePodSandbox', { pod_sandbox_id: id });
};

function rejectsWith(code: number, ...mentions: string[]) {
  return (err: { code: number; details: string }) => {
    assert.equal(err.code, code, `expected code ${code}, got ${err.code}: ${err.details}`);
    for (const m of mentions) assert.ok(err.details.includes(m), `"${err.details}" should mention "${m}"`);
    return true;
  };
}

test('RunPodSandbox returns a READY pod whose netns holds the reported IP, reachable from the host, with its hostname, sysctls and DNS config', async () => {
  const config = podSandboxConfig('web', {
    hostname: 'web-host',
    dns_config: { servers: ['10.96.0.10'], searches: ['critter-test.svc.cluster.local', 'svc.cluster.local'], options: ['ndots:5'] },
    linux: { sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.shm_rmid_forced': '1' } },
  });
  const id = await runPod(config);
  assert.match(id, /^[0-9a-f]{64}$/);
  const { status, info } = await podStatusVerbose(pd.daemon.client, id);
  assert.equal(status.state, READY);
  assert.equal(status.id, id);
  assert.deepEqual(status.metadata, config.metadata);
  assert.deepEqual(status.labels, config.labels);
  assert.deepEqual(status.annotations, config.annotations);
  assert.ok(BigInt(status.created_at as string) > 1_600_000_000n * 1_000_000_000n, `created_at is in ns: ${status.created_at}`);
  const ip = status.network.ip as string;
  assert.match(ip, pd.net.addressPattern);
  assert.deepEqual(await pd.net.leasedIps(), [ip]);

  const netns = info.netnsPath;
  assert.ok(netns.startsWith(pd.daemon.dirs.runRoot), netns);
  const addr = await run('nsenter', [`--net=${netns}`, 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
  assert.ok(addr.stdout.includes(`inet ${ip}/24`), addr.stdout);
  assert.match((await run('nsenter', [`--net=${netns}`, 'ip', '-o', 'link', 'show', 'lo'])).stdout, /UP/);
  await run('busybox', ['ping', '-c', '1', '-W', '2', ip]);

  assert.equal((await run('nsenter', [`--uts=${info.namespaces.uts}`, 'hostname'])).stdout.trim(), 'web-host');
  assert.equal((await run('nsenter', [`--net=${netns}`, 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start'])).stdout.trim(), '0');
  assert.equal((await run('nsenter', [`--ipc=${info.namespaces.ipc}`, 'cat', '/proc/sys/kernel/shm_rmid_forced'])).stdout.trim(), '1');
  assert.equal((await readFile('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8')).trim(), '1024', 'the host keeps its own value');

  const resolv = await readFile(join(info.runDir, 'resolv.conf'), 'utf8');
  assert.equal(resolv, 'nameserver 10.96.0.10\nsearch critter-test.svc.cluster.local svc.cluster.local\noptions ndots:5\n');
  assert.match(await readFile(join(info.runDir, 'hosts'), 'utf8'), new RegExp(`^${ip.replace(/\./g, '\\.')}\\tweb-host$`, 'm'));
  await removePod(id);
});

test('a pod without DNSConfig gets the host resolv.conf', async () => {
  const id = await runPod(podSandboxConfig('nodns'));
  const { info } = await podStatusVerbose(pd.daemon.client, id);
  assert.equal(await readFile(join(info.runDir, 'resolv.conf'), 'utf8'), await readFile('/etc/resolv.conf', 'utf8'));
  await removePod(id);
});

test('a hostPort mapping reaches a listener inside the pod through 127.0.0.1', async () => {
  const hostPort = 21000 + (randomBytes(2).readUInt16BE() % 9000);
  const id = await runPod(podSandboxConfig('ported', { port_mappings: [{ protocol: 0, container_port: 8080, host_port: hostPort }] }));
  const { info } = await podStatusVerbose(pd.daemon.client, id);
  const listener = spawn('nsenter', [`--net=${info.netnsPath}`, 'socat', 'TCP-LISTEN:8080,reuseaddr', 'EXEC:/bin/echo hello-from-pod'], { stdio: 'ignore' });
  assert.ok((await iptablesRules()).some((r) => r.includes(`--dport ${hostPort}`)), 'portmap installed a DNAT rule');
  try {
    assert.equal((await readFromPort('127.0.0.1', hostPort)).trim(), 'hello-from-pod');
  } finally {
    listener.kill('SIGKILL');
  }
  await removePod(id);
  assert.ok((await iptablesRules()).some((r) => r.includes(`--dport ${hostPort}`)) === false, 'the DNAT rule is gone with the pod');
});

test('StopPodSandbox frees the IP and leaves the pod NOTREADY; stop and remove are idempotent', async () => {
  const id = await runPod(podSandboxConfig('stopper'));
  const { info } = await podStatusVerbose(pd.daemon.client, id);
  assert.equal((await pd.net.leasedIps()).length, 1);
  await call('StopPodSandbox', { pod_sandbox_id: id });
  assert.deepEqual(await pd.net.leasedIps(), [], 'stop released the lease');
  const stopped = (await call('PodSandboxStatus', { pod_sandbox_id: id })).status;
  assert.equal(stopped.state, NOTREADY);
  // Regression: a stopped pod kept reporting the IP it had released, which the next pod may get (containerd reports none once the netns is down).
  assert.deepEqual(stopped.network, { ip: '', additional_ips: [] });
  await call('StopPodSandbox', { pod_sandbox_id: id });
  assert.equal((await call('PodSandboxStatus', { pod_sandbox_id: id })).status.state, NOTREADY);
  await call('RemovePodSandbox', { pod_sandbox_id: id });
  await call('RemovePodSandbox', { pod_sandbox_id: id });
  await call('StopPodSandbox', { pod_sandbox_id: id });
  await assert.rejects(call('PodSandboxStatus', { pod_sandbox_id: id }), rejectsWith(Code.NOT_FOUND));
  await assert.rejects(access(info.netnsPath), 'the netns file is gone');
  await assert.rejects(access(info.runDir), 'the run dir is gone');
});

test('StopPodSandbox and RemovePodSandbox of an unknown id succeed; PodSandboxStatus says NOT_FOUND', async () => {
  const unknown = randomBytes(32).toString('hex');
  await call('StopPodSandbox', { pod_sandbox_id: unknown });
  await call('RemovePodSandbox', { pod_sandbox_id: unknown });
  await assert.rejects(call('PodSandboxStatus', { pod_sandbox_id: unknown }), rejectsWith(Code.NOT_FOUND, unknown));
});

test('RunPodSandbox refuses bad input with INVALID_ARGUMENT naming the field, and leaves nothing behind', async () => {
  const md = { name: 'bad', namespace: 'critter-test', uid: 'uid-bad', attempt: 0 };
  const cases: Array<[string, Record<string, unknown>, string, string[]]> = [
    ['no metadata name', { metadata: { ...md, name: '' } }, '', ['metadata.name']],
    ['no metadata namespace', { metadata: { ...md, namespace: '' } }, '', ['metadata.namespace']],
    ['no metadata uid', { metadata: { ...md, uid: '' } }, '', ['metadata.uid']],
    ['no metadata at all', { metadata: null }, '', ['metadata']],
    ['unknown runtime handler', { metadata: md }, 'kata', ['runtime_handler', 'kata']],
    ['non-namespaced sysctl', { metadata: md, linux: { sysctls: { 'kernel.panic': '10' } } }, '', ['kernel.panic']],
    ['net sysctl on a host-network pod', { metadata: md, linux: { sysctls: { 'net.ipv4.ip_forward': '1' }, security_context: { namespace_options: { network: 2 } } } }, '', ['net.ipv4.ip_forward']],
  ];
  for (const [what, config, handler, mentions] of cases) {
    await assert.rejects(call('RunPodSandbox', { config, runtime_handler: handler }), rejectsWith(Code.INVALID_ARGUMENT, ...mentions), what);
  }
  await assert.rejects(call('RunPodSandbox', {}), rejectsWith(Code.INVALID_ARGUMENT, 'config'));
  assert.deepEqual((await call('ListPodSandbox', {})).items, []);
  assert.deepEqual(await pd.net.leasedIps(), []);
});

test('RunPodSandbox retried with the same metadata returns the same pod, also while the first call runs; another config under that name is ALREADY_EXISTS', async () => {
  const config = podSandboxConfig('retried');
  const [a, b] = await Promise.all([runPod(config), runPod(config)]);
  assert.equal(a, b, 'a concurrent retry joins the call in flight');
  assert.equal(await runPod(config), a, 'a later retry gets the existing pod');
  assert.equal((await call('ListPodSandbox', {})).items.length, 1);
  await assert.rejects(runPod({ ...config, hostname: 'other' }), rejectsWith(Code.ALREADY_EXISTS, a));
  await removePod(a);
  const again = await runPod(config);
  assert.notEqual(again, a, 'after removal the name is free for a new pod');
  await removePod(again);
});

test('ListPodSandbox and StreamPodSandboxes filter by id prefix, state and label selector', async () => {
  const web1 = await runPod(podSandboxConfig('list-web1', { labels: { tier: 'web', n: '1' } }));
  const web2 = await runPod(podSandboxConfig('list-web2', { labels: { tier: 'web', n: '2' } }));
  const db = await runPod(podSandboxConfig('list-db', { labels: { tier: 'db', n: '3' } }));
  await call('StopPodSandbox', { pod_sandbox_id: web2 });
  const ids = async (filter: Record<string, unknown> | null): Promise<string[]> =>
    ((await call('ListPodSandbox', { filter })).items as { id: string }[]).map((p) => p.id).sort();
  const streamed = async (filter: Record<string, unknown> | null): Promise<string[]> =>
    (await pd.daemon.client.stream('StreamPodSandboxes', { filter })).flatMap((m) => (m.pod_sandboxes as { id: string }[]).map((p) => p.id)).sort();
  const cases: Array<[string, Record<string, unknown> | null, string[]]> = [
    ['no filter', null, [web1, web2, db]],
    ['full id', { id: db }, [db]],
    ['id prefix', { id: web1.slice(0, 12) }, [web1]],
    ['state READY', { state: { state: READY } }, [web1, db]],
    ['state NOTREADY', { state: { state: NOTREADY } }, [web2]],
    ['label selector', { label_selector: { tier: 'web' } }, [web1, web2]],
    ['two labels', { label_selector: { tier: 'web', n: '2' } }, [web2]],
    ['label and state', { label_selector: { tier: 'web' }, state: { state: READY } }, [web1]],
    ['no match', { label_selector: { tier: 'cache' } }, []],
  ];
  for (const [what, filter, want] of cases) {
    assert.deepEqual(await ids(filter), [...want].sort(), `ListPodSandbox: ${what}`);
    assert.deepEqual(await streamed(filter), [...want].sort(), `StreamPodSandboxes: ${what}`);
  }
  const entry = ((await call('ListPodSandbox', { filter: { id: web1 } })).items as Record<string, unknown>[])[0]!;
  assert.deepEqual(entry.labels, { tier: 'web', n: '1' });
  assert.deepEqual(entry.annotations, { 'critter.test/owner': 'integration' });
  assert.equal(entry.runtime_handler, 'runc');
  for (const id of [web1, web2, db]) await removePod(id);
});

test('a host-network pod has no netns, no IP and no lease, and stops and removes cleanly', async () => {
  const id = await runPod(podSandboxConfig('hostnet', { linux: { security_context: { namespace_options: { network: 2 } } } }));
  const { status, info } = await podStatusVerbose(pd.daemon.client, id);
  assert.equal(status.state, READY);
  assert.equal(status.network.ip, '');
  assert.equal(status.linux.namespaces.options.network, 2);
  assert.equal(info.netnsPath, '');
  assert.deepEqual(await pd.net.leasedIps(), []);
  await removePod(id);
});
