/**
 * The container streaming backends against real runc and conmon: exec (pipes and pty),
 * attach through conmon's socket (non-TTY with stdin-once, TTY with resize) and
 * port-forward into a network namespace made here, all through the StreamingServer and the
 * suite's own SPDY client. Containers run a busybox rootfs built here, without the
 * container service (targets are given directly).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { run, runAllowFailure } from '../../src/lib/exec.ts';
import { NotFoundError } from '../../src/lib/errors.ts';
import { ConmonOciRuntime, runtimeRootFor } from '../../src/oci/conmon-runtime.ts';
import { StreamingServer } from '../../src/streaming/server.ts';
import { ContainerStreamingBackend } from '../../src/container/stream/backend.ts';
import type { ContainerStreamTarget, StreamTargets } from '../../src/container/stream/targets.ts';
import { PortForwarder } from '../../src/network/port-forward.ts';
import { SpdyClient, collect, openPortForward, spdyExec, upgradeSpdy } from '../support/spdy-client.ts';

const RUNC = '/usr/sbin/runc';
const CONMON = '/usr/bin/conmon';
const APPLETS = ['sh', 'echo', 'sleep', 'cat', 'true', 'stty', 'read', 'ps', 'id', 'pwd'];
const CGROUP_PARENT = `critter-stream-test-${process.pid}`;
const NETNS = `critter-pf-${process.pid}`;
const log = pino({ level: process.env['STREAMING_TEST_LOG'] ?? 'silent' });
const op = { log, signal: new AbortController().signal };
const SUCCESS = '{"metadata":{},"status":"Success"}';

let base: string;
let rootfs: string;
let runtime: ConmonOciRuntime;
let server: StreamingServer;
let httpd: ChildProcess | undefined;
const targets = new Map<string, ContainerStreamTarget>();
const created = new Map<string, number>();
let seq = 0;

function ociConfig(id: string, args: string[], terminal: boolean): object {
  return {
    ociVersion: '1.0.2',
    process: { terminal, user: { uid: 0, gid: 0 }, args, env: ['PATH=/bin', 'TERM=xterm', 'GREETING=from-spec'], cwd: '/tmp', noNewPrivileges: true },
    root: { path: rootfs, readonly: false },
    hostname: id,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }], cgroupsPath: `/${CGROUP_PARENT}/${id}` },
  };
}

async function startContainer(args: string[], o: { tty?: boolean; stdin?: boolean; stdinOnce?: boolean } = {}): Promise<string> {
  const id = `stream-${process.pid}-${++seq}`;
  const bundle = join(base, 'bundles', id);
  await mkdir(bundle, { recursive: true });
  await writeFile(join(bundle, 'config.json'), JSON.stringify(ociConfig(id, args, o.tty ?? false)));
  const r = await runtime.createContainer(op, { id, bundle, logPath: join(base, 'logs', `${id}.log`), persistDir: join(base, 'persist', id), terminal: o.tty ?? false, stdin: o.stdin ?? false, stdinOnce: o.stdinOnce ?? false });
  created.set(id, r.conmonPid);
  targets.set(id, { id, handler: 'runc', tty: o.tty ?? false, stdin: o.stdin ?? false, stdinOnce: o.stdinOnce ?? false, running: true, bundleDir: bundle });
  return id;
}

async function processCount(id: string): Promise<number> {
  const r = await runAllowFailure(RUNC, ['--root', runtimeRootFor(join(base, 'run'), 'runc'), 'ps', '--format', 'json', id]);
  return (JSON.parse(r.stdout || '[]') as number[]).length;
}

async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const streamTargets: StreamTargets = {
  async container(id) {
    const t = targets.get(id);
    if (!t) throw new NotFoundError(`container "${id}" not found`);
    return t;
  },
  async podNetns(podId) {
    if (podId === 'pod-netns') return { podId, netnsPath: `/var/run/netns/${NETNS}` };
    if (podId === 'pod-host') return { podId, netnsPath: null };
    throw new NotFoundError(`pod "${podId}" not found`);
  },
};

before(async () => {
  base = await mkdtemp(join(tmpdir(), 'critter-stream-'));
  rootfs = join(base, 'rootfs');
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  for (const d of ['proc', 'dev', 'sys', 'tmp', 'www']) await mkdir(join(rootfs, d));
  await copyFile('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  for (const a of APPLETS) await symlink('busybox', join(rootfs, 'bin', a));
  runtime = new ConmonOciRuntime({
    handler: 'runc', runtimeBinary: RUNC, conmonPath: CONMON, runtimeRoot: runtimeRootFor(join(base, 'run'), 'runc'),
    socketDir: join(base, 's'), exitDir: join(base, 'exits'), scratchDir: join(base, 'scratch'),
  });
  const backend = new ContainerStreamingBackend({
    targets: streamTargets,
    runtimes: () => ({ oci: runtime, exec: { handler: 'runc', binary: RUNC, root: runtimeRootFor(join(base, 'run'), 'runc'), systemdCgroup: false } }),
    portForwarder: new PortForwarder({ socketDir: join(base, 'pf') }),
    scratchDir: join(base, 'exec'),
  });
  server = new StreamingServer({ log, backend });
  await server.start();
});

after(async () => {
  await server?.close();
  httpd?.kill('SIGKILL');
  await runAllowFailure('ip', ['netns', 'delete', NETNS]);
  for (const [id, conmonPid] of created) {
    await runtime.delete(op, id, { force: true }).catch(() => {});
    try {
      process.kill(conmonPid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  await new Promise((r) => setTimeout(r, 100));
  for (const h of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
    const parent = join('/sys/fs/cgroup', h, CGROUP_PARENT);
    if (!existsSync(parent)) continue;
    for (const c of await readdir(parent, { withFileTypes: true })) if (c.isDirectory()) await rmdir(join(parent, c.name)).catch(() => {});
    await rmdir(parent).catch(() => {});
  }
  if (base) await rm(base, { recursive: true, force: true });
});

describe('ContainerStreamingBackend exec', () => {
  let id: string;
  before(async () => {
    id = await startContainer(['sleep', '1000']);
    await runtime.start(op, id);
  });

  test('exec() keeps stdout and stderr apart and reports the exit code', async () => {
    const r = await spdyExec(server.prepareExec({ containerId: id, cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'], tty: false, stdin: false, stdout: true, stderr: true }), {});
    assert.equal(r.stdout.toString(), 'out\n');
    assert.equal(r.stderr.toString(), 'err\n');
    assert.match(r.status, /"reason":"NonZeroExitCode".*"message":"3"/);
  });

  test('exec() runs with the container spec process (env, cwd) and pipes stdin to cat', async () => {
    const r = await spdyExec(server.prepareExec({ containerId: id, cmd: ['sh', '-c', 'echo $GREETING $(pwd); cat'], tty: false, stdin: true, stdout: true, stderr: true }), { stdin: 'line one\nline two\n' });
    assert.equal(r.stdout.toString(), 'from-spec /tmp\nline one\nline two\n');
    assert.equal(r.status, SUCCESS);
  });

  test('exec() with a TTY follows resizes and merges stderr', async () => {
    const r = await spdyExec(server.prepareExec({ containerId: id, cmd: ['sh', '-c', 'sleep 0.5; stty size; echo e >&2; exit 4'], tty: true, stdin: true, stdout: true, stderr: false }), {
      tty: true, stdin: '', keepStdinOpen: true, resizes: [{ Width: 100, Height: 30 }, { Width: 132, Height: 40 }],
    });
    assert.match(r.stdout.toString(), /40 132\r\ne\r\n/);
    assert.match(r.status, /"message":"4"/);
  });

  test('exec() of a missing executable fails with the runtime message', async () => {
    const r = await spdyExec(server.prepareExec({ containerId: id, cmd: ['no-such-binary'], tty: false, stdin: false, stdout: true, stderr: true }), {});
    assert.match(r.status, /executable file not found/);
    assert.doesNotMatch(r.status, /NonZeroExitCode/);
  });

  test('exec() kills the command when the client goes away', async () => {
    const url = server.prepareExec({ containerId: id, cmd: ['sleep', '999'], tty: false, stdin: false, stdout: true, stderr: true });
    const { socket, head } = await upgradeSpdy(url, ['v4.channel.k8s.io']);
    const client = new SpdyClient(socket, head);
    for (const type of ['error', 'stdout', 'stderr']) (await client.openStream({ streamtype: type })).resume();
    await waitUntil('exec running', async () => ((await processCount(id)) === 2 ? true : undefined));
    socket.destroy();
    await waitUntil('exec killed', async () => ((await processCount(id)) === 1 ? true : undefined));
  });
});

describe('ContainerStreamingBackend attach', () => {
  test('attach() demuxes stdout/stderr and closes stdin-once stdin when the client does', async () => {
    const id = await startContainer(['sh', '-c', 'while read l; do echo out:$l; echo err:$l >&2; done; echo bye'], { stdin: true, stdinOnce: true });
    const url = server.prepareAttach({ containerId: id, tty: false, stdin: true, stdout: true, stderr: true });
    const session = spdyExec(url, { stdin: 'one\ntwo\n' });
    // conmon serves the socket before the container starts; start it once the client is in.
    await new Promise((r) => setTimeout(r, 200));
    await runtime.start(op, id);
    const r = await session;
    assert.equal(r.stdout.toString(), 'out:one\nout:two\nbye\n');
    assert.equal(r.stderr.toString(), 'err:one\nerr:two\n');
    assert.equal(r.status, SUCCESS);
  });

  test('attach() with a TTY resizes through the ctl FIFO', async () => {
    const id = await startContainer(['sh'], { tty: true, stdin: true });
    await runtime.start(op, id);
    const r = await spdyExec(server.prepareAttach({ containerId: id, tty: true, stdin: true, stdout: true, stderr: false }), {
      tty: true, stdin: Buffer.from('sleep 0.3; stty size; exit 9\n'), keepStdinOpen: true, resizes: [{ Width: 101, Height: 31 }],
    });
    assert.match(r.stdout.toString(), /31 101/);
  });

  test('attach() to a container whose conmon is gone fails clearly', async () => {
    targets.set('ghost', { id: 'ghost', handler: 'runc', tty: false, stdin: false, stdinOnce: false, running: true, bundleDir: base });
    const r = await spdyExec(server.prepareAttach({ containerId: 'ghost', tty: false, stdin: false, stdout: true, stderr: true }), {});
    assert.match(r.status, /conmon is not running/);
  });
});

describe('ContainerStreamingBackend portForward', () => {
  before(async () => {
    await run('ip', ['netns', 'add', NETNS]);
    await run('ip', ['netns', 'exec', NETNS, 'ip', 'link', 'set', 'lo', 'up']);
    await writeFile(join(rootfs, 'www', 'index.html'), 'hello from the pod netns\n');
    httpd = spawn('ip', ['netns', 'exec', NETNS, '/bin/busybox', 'httpd', '-f', '-p', '127.0.0.1:8080', '-h', join(rootfs, 'www')], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300));
  });

  test('portForward() reaches a port inside the pod netns, 4 streams at once, and names a refused port', async () => {
    const { socket, head } = await upgradeSpdy(server.preparePortForward({ podId: 'pod-netns', ports: [8080] }), ['portforward.k8s.io']);
    const client = new SpdyClient(socket, head);
    const pages = await Promise.all([1, 2, 3, 4].map(async (n) => {
      const { data, error } = await openPortForward(client, 8080, n);
      data.write('GET / HTTP/1.0\r\n\r\n');
      const body = (await collect(data)).toString();
      assert.equal(await error, '');
      return body;
    }));
    for (const p of pages) assert.match(p, /200 OK[\s\S]*hello from the pod netns/);
    const refused = await openPortForward(client, 8081, 9);
    assert.match(await refused.error, /port 8081 to pod pod-netns: cannot connect to 127.0.0.1:8081 in the network namespace of pod pod-netns: connection refused/);
    socket.destroy();
  });
});
