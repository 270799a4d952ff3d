/**
 * Leak check (issue "Pod sandboxes and CNI networking", tests item; user-asks #5): many
 * RunPodSandbox / StopPodSandbox / RemovePodSandbox cycles over gRPC must leave the host
 * exactly as they found it — no netns file, mount, IP lease, iptables rule, veth or
 * daemon-side record. Host-wide state is compared only where it belongs to this test's
 * network and daemon dirs, so pod networks of other programs do not disturb it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { mountsUnder, podSandboxConfig, startPodDaemon, type PodDaemon } from './helpers/pod-network.ts';

const CYCLES = Number(process.env['CRITTER_POD_CYCLES'] ?? 100);

let pd: PodDaemon;
before(async () => {
  pd = await startPodDaemon();
});
after(async () => {
  await pd?.close();
});

interface HostSnapshot {
  rules: string[];
  mounts: string[];
  links: string[];
  daemonFiles: Record<string, string[]>;
  leases: string[];
}

async function snapshot(): Promise<HostSnapshot> {
  const { runRoot, root } = pd.daemon.dirs;
  const ls = (dir: string) => readdir(dir).catch(() => [] as string[]);
  return {
    rules: await pd.net.iptablesRules(),
    mounts: await mountsUnder(pd.daemon.dirs.base),
    links: await pd.net.bridgePorts(),
    daemonFiles: {
      netns: await ls(join(runRoot, 'netns')), ipcns: await ls(join(runRoot, 'ipcns')), utsns: await ls(join(runRoot, 'utsns')),
      podRunDirs: await ls(join(runRoot, 'pods')), records: await ls(join(root, 'pods')), cniCache: await ls(join(root, 'cni', 'results')),
    },
    leases: await pd.net.leasedIps(),
  };
}

test(`${CYCLES} RunPodSandbox/StopPodSandbox/RemovePodSandbox cycles leave no netns file, mount, IP lease, iptables rule or link behind`, async () => {
  const c = pd.daemon.client;
  const config = (i: number) => podSandboxConfig(`cycle-${i}`, {
    hostname: `cycle-${i}`,
    port_mappings: [{ protocol: 0, container_port: 80, host_port: 30080 }],
    linux: { sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0' } },
  });
  // The first pod creates what stays for every later one: the bridge, portmap's shared chains, the namespace dir mounts.
  const warm = (await c.call('RunPodSandbox', { config: config(-1) })).pod_sandbox_id as string;
  await c.call('StopPodSandbox', { pod_sandbox_id: warm });
  await c.call('RemovePodSandbox', { pod_sandbox_id: warm });
  const before = await snapshot();
  assert.deepEqual(before.daemonFiles, { netns: [], ipcns: [], utsns: [], podRunDirs: [], records: [], cniCache: [] });
  assert.deepEqual(before.leases, []);
  assert.deepEqual(before.links, []);

  const started = Date.now();
  const seenIps = new Set<string>();
  for (let i = 0; i < CYCLES; i++) {
    const id = (await c.call('RunPodSandbox', { config: config(i) })).pod_sandbox_id as string;
    const status = (await c.call('PodSandboxStatus', { pod_sandbox_id: id })).status;
    assert.equal(status.state, 0, `cycle ${i}: READY`);
    seenIps.add(status.network.ip as string);
    if (i === 0) {
      // The comparison below can only fail if a live pod is visible in it.
      const during = await snapshot();
      assert.ok(during.rules.some((r) => r.startsWith(':CNI-DN-')) && during.rules.some((r) => r.includes('--dport 30080')), during.rules.join('\n'));
      assert.equal(during.links.length, 1);
      assert.equal(during.leases.length, 1);
      assert.ok(during.mounts.length > before.mounts.length);
    }
    await c.call('StopPodSandbox', { pod_sandbox_id: id });
    await c.call('RemovePodSandbox', { pod_sandbox_id: id });
  }
  const elapsedMs = Date.now() - started;

  const after = await snapshot();
  assert.deepEqual(after.rules, before.rules, 'iptables rules and chains');
  assert.deepEqual(after.mounts, before.mounts, 'mounts');
  assert.deepEqual(after.links, before.links, 'network links (veths)');
  assert.deepEqual(after.daemonFiles, before.daemonFiles, 'namespace files, run dirs, records, CNI cache');
  assert.deepEqual(after.leases, [], 'IP leases');
  assert.deepEqual((await c.call('ListPodSandbox', {})).items, []);
  assert.ok(seenIps.size >= 1 && [...seenIps].every((ip) => pd.net.addressPattern.test(ip)), [...seenIps].join(','));
  // Not a benchmark (bench/ has that), but a guard against a cycle suddenly costing seconds.
  assert.ok(elapsedMs < CYCLES * 1500, `${CYCLES} cycles took ${elapsedMs} ms`);
});
