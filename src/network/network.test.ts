import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { CniConfigWatcher, parseCniConfig } from './cni-config.ts';
import { compareCniVersions } from './cni-plugin.ts';
import { podIps } from './cni.ts';
import { sysctlNamespace, validatePodSysctls, normaliseSysctlName } from './sysctls.ts';
import { InvalidArgumentError } from '../lib/errors.ts';

const log = pino({ level: 'silent' });

test('parseCniConfig() turns a single-plugin .conf into a list of one and checks conflists', () => {
  const conf = parseCniConfig('/d/99-lo.conf', '{"cniVersion":"1.0.0","name":"lo","type":"loopback"}');
  assert.deepEqual(conf.plugins, [{ type: 'loopback' }]);
  assert.throws(() => parseCniConfig('/d/x.conflist', '{"name":"n","plugins":[]}'), /plugins/);
  assert.throws(() => parseCniConfig('/d/x.conf', '{"type":"bridge"}'), /name/);
});

test('CniConfigWatcher picks the first config in lexical order and follows changes in the dir', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cni-conf-'));
  const watcher = new CniConfigWatcher({ confDir: dir, log, debounceMs: 20 });
  try {
    await watcher.start();
    assert.equal(watcher.readiness().ready, false);
    assert.equal(watcher.readiness().reason, 'NetworkPluginNotReady');
    assert.ok(watcher.readiness().message.includes(dir));
    const changed = () => new Promise<void>((resolve) => watcher.onChange(() => resolve()));
    let next = changed();
    await writeFile(join(dir, '20-b.conflist'), '{"cniVersion":"1.0.0","name":"b","plugins":[{"type":"bridge"}]}');
    await next;
    assert.equal(watcher.current()?.name, 'b');
    next = changed();
    await writeFile(join(dir, '10-a.conf'), '{"cniVersion":"1.0.0","name":"a","type":"ptp"}');
    await next;
    assert.equal(watcher.current()?.name, 'a');
    assert.equal(watcher.readiness().ready, true);
    next = changed();
    await unlink(join(dir, '10-a.conf'));
    await next;
    assert.equal(watcher.current()?.name, 'b');
    next = changed();
    await unlink(join(dir, '20-b.conflist'));
    await next;
    assert.equal(watcher.readiness().ready, false);
  } finally {
    watcher.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('compareCniVersions() orders dotted versions numerically', () => {
  assert.ok(compareCniVersions('0.4.0', '0.10.0') < 0);
  assert.equal(compareCniVersions('1.0.0', '1.0'), 0);
  assert.ok(compareCniVersions('1.1.0', '1.0.0') > 0);
});

test('podIps() reads 1.0 and 0.2 results and puts IPv4 first', () => {
  assert.deepEqual(podIps({ ips: [{ address: 'fd00::5/64' }, { address: '10.0.0.5/24' }] }), ['10.0.0.5', 'fd00::5']);
  assert.deepEqual(podIps({ ip4: { ip: '10.1.0.2/16' } }), ['10.1.0.2']);
  assert.deepEqual(podIps(undefined), []);
});

test('validatePodSysctls() allows namespaced sysctls only in namespaces the pod owns', () => {
  assert.equal(sysctlNamespace('net.core.somaxconn'), 'net');
  assert.equal(sysctlNamespace('kernel.shmmax'), 'ipc');
  assert.equal(sysctlNamespace('fs.mqueue.msg_max'), 'ipc');
  assert.equal(sysctlNamespace('kernel.panic'), undefined);
  assert.equal(normaliseSysctlName('net/ipv4/conf/eth0.100/forwarding'), 'net.ipv4.conf.eth0/100.forwarding');
  validatePodSysctls({ 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.sem': '1 2 3 4' }, { net: true, ipc: true });
  assert.throws(() => validatePodSysctls({ 'vm.swappiness': '1' }, { net: true, ipc: true }), (e: Error) => e instanceof InvalidArgumentError && e.message.includes('vm.swappiness'));
  assert.throws(() => validatePodSysctls({ 'net.core.somaxconn': '1' }, { net: false, ipc: true }), /host's/);
});
