/**
 * Pods across daemon restarts and failures, over gRPC (issue "Pod sandboxes and CNI
 * networking", items 1, 8 and 9; user-asks: restarts must keep ids, states and IPs, and
 * a failed CNI ADD must be unwound without leaking an IP).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/lib/exec.ts';
import {
  iptablesRules, mountsUnder, podSandboxConfig, podStatusVerbose, startPodDaemon, writeFailingPlugin, type PodDaemon,
} from './helpers/pod-network.ts';

const READY = 0;
const NOTREADY = 1;

let pd: PodDaemon;
let pluginDir: string;
before(async () => {
  pluginDir = await mkdtemp(join(tmpdir(), 'critter-plugins-'));
  pd = await startPodDaemon();
});
after(async () => {
  await pd?.close();
  await rm(pluginDir, { recursive: true, force: true });
});

/** What a daemon's pods leave in its own dirs: namespace files, records, CNI cache entries, mounts (besides the private namespace dirs). */
interface Leftovers { netns: string[]; ipcns: string[]; utsns: string[]; pods: string[]; records: string[]; cniCache: string[]; mounts: string[]; leases: string[] }

async function leftovers(p: PodDaemon): Promise<Leftovers> {
  const { runRoot, root, base } = p.daemon.dirs;
  const ls = (dir: string) => readdir(dir).catch(() => [] as string[]);
  const nsDirs = new Set(['netns', 'ipcns', 'utsns'].map((k) => join(runRoot, k)));
  return {
    netns: await ls(join(runRoot, 'netns')),
    ipcns: await ls(join(runRoot, 'ipcns')),
    utsns: await ls(join(runRoot, 'utsns')),
    pods: await ls(join(runRoot, 'pods')),
    records: await ls(join(root, 'pods')),
    cniCache: await ls(join(root, 'cni', 'results')),
    mounts: (await mountsUnder(base)).filter((m) => !nsDirs.has(m)),
    leases: await p.net.leasedIps(),
  };
}

const NOTHING: Leftovers = { netns: [], ipcns: [], utsns: [], pods: [], records: [], cniCache: [], mounts: [], leases: [] };

for (const crash of [false, true]) {
  test(`after a daemon ${crash ? 'crash (SIGKILL)' : 'restart (SIGTERM)'} every pod is back with the same id, state and IP`, async () => {
    const c = () => pd.daemon.client;
    const liveConfig = podSandboxConfig(`survivor-${crash}`, { labels: { keep: 'me' }, annotations: { 'x/y': 'z' } });
    const live = (await c().call('RunPodSandbox', { config: liveConfig })).pod_sandbox_id as string;
    const stopped = (await c().call('RunPodSandbox', { config: podSandboxConfig(`stopped-${crash}`) })).pod_sandbox_id as string;
    await c().call('StopPodSandbox', { pod_sandbox_id: stopped });
    const before = await podStatusVerbose(c(), live);
    const ip = before.status.network.ip as string;

    await pd.restart({ crash });

    const after = await podStatusVerbose(c(), live);
    assert.equal(after.status.id, live);
    assert.equal(after.status.state, READY);
    assert.equal(after.status.network.ip, ip);
    assert.equal(after.status.created_at, before.status.created_at);
    assert.deepEqual(after.status.labels, liveConfig.labels);
    assert.deepEqual(after.status.annotations, liveConfig.annotations);
    assert.equal(after.info.netnsPath, before.info.netnsPath);
    assert.ok((await run('nsenter', [`--net=${after.info.netnsPath}`, 'ip', '-4', '-o', 'addr', 'show', 'eth0'])).stdout.includes(`inet ${ip}/`));
    await run('busybox', ['ping', '-c', '1', '-W', '2', ip]);
    assert.equal((await c().call('PodSandboxStatus', { pod_sandbox_id: stopped })).status.state, NOTREADY);
    assert.deepEqual(await pd.net.leasedIps(), [ip], 'start-up CNI GC keeps the live pod\'s lease');
    assert.equal((await c().call('RunPodSandbox', { config: liveConfig })).pod_sandbox_id, live, 'a kubelet retry after the restart gets the same pod');

    for (const id of [live, stopped]) {
      await c().call('StopPodSandbox', { pod_sandbox_id: id });
      await c().call('RemovePodSandbox', { pod_sandbox_id: id });
    }
    assert.deepEqual(await leftovers(pd), NOTHING);
  });
}

test('a failing CNI plugin makes RunPodSandbox fail with the plugin\'s message and unwinds the namespaces, lease, rules and record', async () => {
  await writeFailingPlugin(pluginDir, 'crtfail', 'injected failure', 'plugin says no');
  const failing = await startPodDaemon({
    extraPlugins: [{ type: 'crtfail' }],
    extraArgs: ['--cni-plugin-dir', pluginDir, '--cni-plugin-dir', '/usr/lib/cni'],
  });
  try {
    // portmap's shared CNI-HOSTPORT-* chains appear on first use and stay: create them first.
    const warm = (await pd.daemon.client.call('RunPodSandbox', { config: podSandboxConfig('warm', { port_mappings: [{ protocol: 0, container_port: 80, host_port: 30998 }] }) })).pod_sandbox_id as string;
    await pd.daemon.client.call('RemovePodSandbox', { pod_sandbox_id: warm });
    const rulesBefore = await iptablesRules();
    const config = podSandboxConfig('doomed', { port_mappings: [{ protocol: 0, container_port: 80, host_port: 30999 }] });
    for (let attempt = 1; attempt <= 2; attempt++) {
      await assert.rejects(failing.daemon.client.call('RunPodSandbox', { config }), (err: { details: string }) => {
        assert.match(err.details, /injected failure: plugin says no/);
        return true;
      }, `attempt ${attempt}: the name was released, so a retry runs again rather than "name is reserved"`);
      assert.deepEqual((await failing.daemon.client.call('ListPodSandbox', {})).items, []);
      assert.deepEqual(await leftovers(failing), NOTHING);
      assert.deepEqual(await iptablesRules(), rulesBefore);
    }
  } finally {
    await failing.close();
  }
});

test('a pod half-created when the daemon was killed mid CNI ADD is unwound at start-up (DEL, lease, namespaces, record)', async () => {
  const marker = join(pluginDir, 'adding');
  // Hangs in ADD (after bridge and host-local took a lease) until its parent, the daemon, dies.
  await writeFile(join(pluginDir, 'crthang'), [
    '#!/bin/sh',
    'cat >/dev/null',
    `if [ "$CNI_COMMAND" = ADD ]; then : > ${marker}; while kill -0 $PPID 2>/dev/null; do sleep 0.1; done; exit 1; fi`,
    'if [ "$CNI_COMMAND" = VERSION ]; then echo \'{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}\'; fi',
    'exit 0',
    '',
  ].join('\n'), { mode: 0o755 });
  const hanging = await startPodDaemon({
    extraPlugins: [{ type: 'crthang' }],
    extraArgs: ['--cni-plugin-dir', pluginDir, '--cni-plugin-dir', '/usr/lib/cni'],
  });
  try {
    const pending = hanging.daemon.client.call('RunPodSandbox', { config: podSandboxConfig('half') }).catch((err: Error) => err);
    for (let i = 0; ; i++) {
      if (await access(marker).then(() => true, () => false)) break;
      if (i > 200) throw new Error(`the hanging plugin never ran:\n${hanging.daemon.logs()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal((await hanging.net.leasedIps()).length, 1, 'the bridge plugin took a lease before the hang');
    assert.equal((await leftovers(hanging)).netns.length, 1);
    await hanging.restart({ crash: true });
    assert.ok((await pending) instanceof Error);
    assert.deepEqual((await hanging.daemon.client.call('ListPodSandbox', {})).items, []);
    assert.deepEqual(await leftovers(hanging), NOTHING);
  } finally {
    await hanging.close();
    await rm(marker, { force: true });
  }
});
