import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { stat, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status as Code, makeGenericClientConstructor, credentials } from '@grpc/grpc-js';
import { startDaemon, makeDirs, CLI, type RunningDaemon } from './helpers/daemon.ts';

let d: RunningDaemon;
before(async () => {
  d = await startDaemon();
});
after(async () => {
  await d?.stop();
});

test('Version reports critter, the package version and CRI v1', async () => {
  const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  const v = await d.client.call('Version', { version: 'v1' });
  assert.equal(v.runtime_name, 'critter');
  assert.equal(v.runtime_version, pkg.version);
  assert.equal(v.runtime_api_version, 'v1');
});

test('Status reports RuntimeReady and NetworkReady=false with a reason while no CNI config exists', async () => {
  const s = await d.client.call('Status', { verbose: false });
  const byType = new Map((s.status.conditions as { type: string }[]).map((c) => [c.type, c]));
  assert.deepEqual(byType.get('RuntimeReady'), { type: 'RuntimeReady', status: true, reason: '', message: '' });
  const net = byType.get('NetworkReady') as unknown as { status: boolean; reason: string; message: string };
  assert.equal(net.status, false);
  assert.equal(net.reason, 'NetworkPluginNotReady');
  assert.match(net.message, /no CNI configuration/);
  assert.ok(net.message.includes(d.dirs.cniConfDir));
});

test('Status turns NetworkReady true once a CNI config appears, and back when it goes', async () => {
  const f = join(d.dirs.cniConfDir, '10-test.conflist');
  await writeFile(f, JSON.stringify({ cniVersion: '1.0.0', name: 'test', plugins: [{ type: 'loopback' }] }));
  const ready = async (): Promise<boolean> => {
    const s = await d.client.call('Status', {});
    return (s.status.conditions as { type: string; status: boolean }[]).find((c) => c.type === 'NetworkReady')!.status;
  };
  await eventually(async () => assert.equal(await ready(), true));
  const { rm } = await import('node:fs/promises');
  await rm(f);
  await eventually(async () => assert.equal(await ready(), false));
});

test('Status lists the runc handler (and the default as "") and verbose info holds the effective config', async () => {
  const s = await d.client.call('Status', { verbose: true });
  const names = (s.runtime_handlers as { name: string }[]).map((h) => h.name);
  assert.ok(names.includes('runc'), names.join(','));
  assert.ok(names.includes(''), names.join(','));
  // Supplemental groups policy (Merge/Strict) is built and reported in ContainerStatus.user.
  assert.equal(s.features.supplemental_groups_policy, true);
  const config = JSON.parse(s.info.config as string) as { socket: string; root: string };
  assert.equal(config.socket, d.dirs.socket);
  assert.equal(config.root, d.dirs.root);
});

test('RuntimeConfig reports the cgroupfs driver by default', async () => {
  const r = await d.client.call('RuntimeConfig', {});
  assert.equal(r.linux.cgroup_driver, 1 /* CGROUPFS */);
});

test('UpdateRuntimeConfig stores the pod CIDR and refuses a malformed one naming it', async () => {
  await d.client.call('UpdateRuntimeConfig', { runtime_config: { network_config: { pod_cidr: '10.244.1.0/24' } } });
  const s = await d.client.call('Status', { verbose: true });
  assert.equal(JSON.parse(s.info.podCidr as string), '10.244.1.0/24');
  await assert.rejects(
    d.client.call('UpdateRuntimeConfig', { runtime_config: { network_config: { pod_cidr: '10.244.1.0/99x' } } }),
    (err: { code: number; details: string }) => err.code === Code.INVALID_ARGUMENT && err.details.includes('10.244.1.0/99x'),
  );
});

test('every CRI RPC is registered and built: none answers UNIMPLEMENTED', async () => {
  const methods = [
    ...Object.keys((d.client.runtime.constructor as unknown as { service: object }).service),
    ...Object.keys((d.client.image.constructor as unknown as { service: object }).service),
  ];
  assert.equal(methods.length, 43);
  for (const rpc of methods) {
    const isStream = rpc.startsWith('Stream') || rpc === 'GetContainerEvents';
    if (isStream) continue;
    await d.client.call(rpc, {}).catch((err: { code: number; details: string }) => {
      // grpc-js's own answer for a method nobody registered; ours names critter.
      assert.ok(!/does not implement the method/.test(err.details), `${rpc} is not registered: ${err.details}`);
      assert.notEqual(err.code, Code.UNIMPLEMENTED, `${rpc}: ${err.details}`);
    });
  }
  // The pod checkpoint RPCs refuse an empty request naming the first field they need.
  await assert.rejects(d.client.call('CheckpointPod', {}), (err: { code: number; details: string }) => err.code === Code.INVALID_ARGUMENT && err.details.startsWith('pod_sandbox_id'));
  await assert.rejects(d.client.call('RestorePod', {}), (err: { code: number; details: string }) => err.code === Code.INVALID_ARGUMENT && err.details.startsWith('checkpoint_path'));
});

test('a request that is not valid protobuf is refused and the daemon keeps serving', async () => {
  const Raw = makeGenericClientConstructor({
    Version: {
      path: '/runtime.v1.RuntimeService/Version', requestStream: false, responseStream: false,
      requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b,
    },
  }, 'Raw');
  const raw = new Raw(`unix://${d.dirs.socket}`, credentials.createInsecure(), { 'grpc.default_authority': 'localhost' });
  // Field 1 with wire type 7, which does not exist: protobuf decoding must fail.
  const garbage = Buffer.from([0x0f]);
  const err = await new Promise<{ code: number }>((resolve) => (raw as unknown as { Version: (b: Buffer, cb: (e: { code: number }) => void) => void }).Version(garbage, resolve));
  raw.close();
  assert.equal(err?.code, Code.INTERNAL);
  assert.equal((await d.client.call('Version', {})).runtime_name, 'critter');
});

test('the socket is 0660 and the state directories are root-only (the run root searchable, not listable)', async () => {
  assert.equal((await stat(d.dirs.socket)).mode & 0o777, 0o660);
  assert.equal((await stat(d.dirs.root)).mode & 0o777, 0o700);
  // 0711 as containerd's state dir: a pod user namespace's root must pass through to its rootfs.
  assert.equal((await stat(d.dirs.runRoot)).mode & 0o777, 0o711);
});

test('the daemon exits 0 on SIGTERM and a restart replaces the stale socket after a crash', async () => {
  const x = await startDaemon({ configYaml: 'cgroup_driver: systemd\n' });
  assert.equal((await x.client.call('RuntimeConfig', {})).linux.cgroup_driver, 0 /* SYSTEMD */);
  await x.client.call('UpdateRuntimeConfig', { runtime_config: { network_config: { pod_cidr: '10.9.0.0/16' } } });
  await x.kill();
  await stat(x.dirs.socket); // the crash left the socket file behind
  const y = await startDaemon({ dirs: x.dirs, configYaml: 'cgroup_driver: systemd\n' });
  const s = await y.client.call('Status', { verbose: true });
  assert.equal(JSON.parse(s.info.podCidr as string), '10.9.0.0/16', 'the pod CIDR survives a restart');
  assert.equal(await y.stop(), 0);
});

test('a bad config file stops the daemon with one line naming the file, key and value', async () => {
  const dirs = await makeDirs();
  await writeFile(dirs.configFile, 'streaming:\n  port: lots\n');
  const { code, stderr } = await runCli(['daemon', '--config', dirs.configFile, '--socket', dirs.socket, '--root', dirs.root, '--run-root', dirs.runRoot]);
  assert.equal(code, 1);
  assert.ok(stderr.includes(dirs.configFile) && stderr.includes('streaming.port') && stderr.includes('lots'), stderr);
  await assert.rejects(stat(dirs.socket), 'no socket for a refused config');
  const { rm } = await import('node:fs/promises');
  await rm(dirs.base, { recursive: true, force: true });
});

test('a second daemon on a live socket is refused', async () => {
  const { code, stderr } = await runCli(['daemon', '--socket', d.dirs.socket, '--root', join(d.dirs.base, 'r2'), '--run-root', join(d.dirs.base, 'rr2'), '--config', d.dirs.configFile]);
  assert.equal(code, 1);
  assert.match(stderr, /already serving/);
  assert.equal((await d.client.call('Version', {})).runtime_name, 'critter');
});

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    p.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function eventually(fn: () => Promise<void>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fn();
      return;
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
