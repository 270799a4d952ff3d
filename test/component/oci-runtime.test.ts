/**
 * ConmonOciRuntime and ExitWatcher against the real conmon and runc (root). Containers run
 * a busybox rootfs built here; each test container has its own bundle under a temp dir and
 * a cgroup under a test-specific parent, all removed afterwards.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, rmdir, stat, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { SeqpacketSocket } from 'node-unix-socket';
import { runAllowFailure } from '../../src/lib/exec.ts';
import { NotFoundError, ResourceExhaustedError } from '../../src/lib/errors.ts';
import { ExecOutputBudget } from '../../src/oci/exec-budget.ts';
import { ConmonOciRuntime, runtimeRootFor } from '../../src/oci/conmon-runtime.ts';
import { ExitWatcher } from '../../src/oci/exit-watcher.ts';
import type { ContainerExit } from '../../src/oci/exit-watcher.ts';
import { OciRuntimeError, EXEC_SYNC_MAX_OUTPUT } from '../../src/oci/runtime.ts';
import type { OciProcess } from '../../src/oci/runtime.ts';
import { isSameProcess, processStartTime } from '../../src/oci/process-identity.ts';

const RUNC = '/usr/sbin/runc';
const CONMON = '/usr/bin/conmon';
const CRUN = '/usr/bin/crun';
const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'echo', 'sleep', 'cat', 'true', 'head', 'ls', 'ps'];
const CGROUP_PARENT = `critter-oci-test-${process.pid}`;
const op = { log: pino({ level: 'silent' }), signal: new AbortController().signal };

let base: string;
let rootfs: string;
let runtime: ConmonOciRuntime;
let watcher: ExitWatcher;
const exits: Array<ContainerExit & { seenAt: number }> = [];
const created = new Map<string, number>(); // id → conmon pid
let crun: ConmonOciRuntime;
let seq = 0;

function processSpec(args: string[], terminal = false): OciProcess {
  return { terminal, user: { uid: 0, gid: 0 }, args, env: ['PATH=/bin', 'TERM=xterm'], cwd: '/', noNewPrivileges: true };
}

/** A minimal OCI config.json: pid/mount/ipc/uts namespaces, the default mounts, a test cgroup. */
function ociConfig(id: string, args: string[], terminal: boolean): object {
  return {
    ociVersion: '1.0.2',
    process: processSpec(args, terminal),
    root: { path: rootfs, readonly: false },
    hostname: id,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }],
      cgroupsPath: `/${CGROUP_PARENT}/${id}`,
    },
  };
}

interface Started {
  id: string;
  logPath: string;
  pid: number;
}

async function createContainer(args: string[], opts: { terminal?: boolean; start?: boolean; runtime?: ConmonOciRuntime } = {}): Promise<Started> {
  const rt = opts.runtime ?? runtime;
  const id = `oci-${process.pid}-${++seq}`;
  const bundle = join(base, 'bundles', id);
  await mkdir(bundle, { recursive: true });
  await writeFile(join(bundle, 'config.json'), JSON.stringify(ociConfig(id, args, opts.terminal ?? false)));
  const logPath = join(base, 'logs', `${id}.log`);
  const result = await rt.createContainer(op, { id, bundle, logPath, persistDir: join(base, 'persist', id), terminal: opts.terminal ?? false, stdin: false, stdinOnce: false });
  created.set(id, result.conmonPid);
  if (opts.start ?? true) await rt.start(op, id);
  return { id, logPath, pid: result.pid };
}

async function waitUntil<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function exitOf(id: string): Promise<ContainerExit & { seenAt: number }> {
  return waitUntil(`exit of ${id}`, () => exits.find((e) => e.id === id));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function zombieChildren(): Promise<number> {
  let n = 0;
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const st = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
    const fields = st.slice(st.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' && fields[1] === String(process.pid)) n++;
  }
  return n;
}

async function containerPids(id: string): Promise<number[]> {
  const r = await runAllowFailure(RUNC, ['--root', runtimeRootFor(join(base, 'run'), 'runc'), 'ps', '--format', 'json', id]);
  return JSON.parse(r.stdout || '[]') as number[];
}

async function removeCgroups(): Promise<void> {
  for (const hierarchy of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
    const parent = join('/sys/fs/cgroup', hierarchy, CGROUP_PARENT);
    if (!existsSync(parent)) continue;
    for (const child of await readdir(parent, { withFileTypes: true })) if (child.isDirectory()) await rmdir(join(parent, child.name)).catch(() => {});
    await rmdir(parent).catch(() => {});
  }
}

before(async () => {
  base = await mkdtemp(join(tmpdir(), 'critter-oci-'));
  rootfs = join(base, 'rootfs');
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  for (const d of ['proc', 'dev', 'sys', 'tmp']) await mkdir(join(rootfs, d));
  await copyFile(BUSYBOX, join(rootfs, 'bin', 'busybox'));
  for (const a of APPLETS) await symlink('busybox', join(rootfs, 'bin', a));
  runtime = new ConmonOciRuntime({
    handler: 'runc',
    runtimeBinary: RUNC,
    conmonPath: CONMON,
    runtimeRoot: runtimeRootFor(join(base, 'run'), 'runc'),
    socketDir: join(base, 's'),
    exitDir: join(base, 'exits'),
    scratchDir: join(base, 'scratch'),
  });
  crun = new ConmonOciRuntime({
    handler: 'crun',
    runtimeBinary: CRUN,
    conmonPath: CONMON,
    runtimeRoot: runtimeRootFor(join(base, 'run'), 'crun'),
    socketDir: join(base, 's'),
    exitDir: join(base, 'exits'),
    scratchDir: join(base, 'scratch'),
  });
  watcher = new ExitWatcher({ dir: join(base, 'exits'), log: op.log, onExit: (e) => exits.push({ ...e, seenAt: Date.now() }) });
  await watcher.start();
});

after(async () => {
  watcher?.close();
  for (const [id, conmonPid] of created) {
    await runtime.delete(op, id, { force: true }).catch(() => {});
    await crun.delete(op, id, { force: true }).catch(() => {});
    try {
      process.kill(conmonPid, 'SIGKILL');
    } catch {
      // already gone, as it should be
    }
  }
  await new Promise((r) => setTimeout(r, 100));
  await removeCgroups();
  if (base) await rm(base, { recursive: true, force: true });
});

describe('ConmonOciRuntime', () => {
  test('createContainer() leaves the container created under conmon; start() runs it and output lands in the CRI log', async (t) => {
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const c = await createContainer(['sh', '-c', 'echo hello; exec sleep 1000'], { start: false });
      const t1 = performance.now();
      assert.deepEqual(await runtime.state(op, c.id), { status: 'created', pid: c.pid });
      const t2 = performance.now();
      await runtime.start(op, c.id);
      latencies.push(t1 - t0 + (performance.now() - t2));
      assert.equal((await runtime.state(op, c.id)).status, 'running');
      const log = await waitUntil('log line', async () => ((await readFile(c.logPath, 'utf8').catch(() => '')).includes('hello') ? readFile(c.logPath, 'utf8') : undefined));
      assert.match(log, /^\d{4}-\d\d-\d\dT\S+ stdout F hello\n$/);
      await runtime.delete(op, c.id, { force: true });
    }
    t.diagnostic(`create+start median ${median(latencies).toFixed(1)} ms over ${latencies.length}`);
  });

  test('kill() TERM is ignored by a handler-less pid 1; KILL is reported as 137 within 100 ms', async () => {
    const c = await createContainer(['sleep', '1000']);
    await runtime.kill(op, c.id, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await runtime.state(op, c.id)).status, 'running');
    await runtime.kill(op, c.id, 'KILL');
    const exit = await exitOf(c.id);
    assert.equal(exit.exitCode, 137);
    assert.ok(exit.seenAt - exit.exitedAt.getTime() < 100, `exit seen ${exit.seenAt - exit.exitedAt.getTime()} ms after the file`);
    assert.equal((await runtime.state(op, c.id)).status, 'stopped');
    await runtime.kill(op, c.id, 'KILL'); // already stopped: not an error
    await runtime.delete(op, c.id, { force: false });
    await assert.rejects(runtime.state(op, c.id), NotFoundError);
  });

  test('a non-zero exit code is reported by the exit watcher', async () => {
    const c = await createContainer(['sh', '-c', 'exit 3']);
    assert.equal((await exitOf(c.id)).exitCode, 3);
    await waitUntil('stopped', async () => ((await runtime.state(op, c.id)).status === 'stopped' ? true : undefined));
  });

  test('createContainer() of a missing binary fails with the runtime message', async () => {
    await assert.rejects(createContainer(['/bin/does-not-exist']), (err: Error) => {
      assert.ok(err instanceof OciRuntimeError, String(err));
      assert.match(err.message, /does-not-exist.*no such file or directory/);
      return true;
    });
  });

  test('state(), kill() and delete() of an unknown id', async () => {
    await assert.rejects(runtime.state(op, 'no-such-container'), NotFoundError);
    await assert.rejects(runtime.kill(op, 'no-such-container', 'KILL'), NotFoundError);
    await runtime.delete(op, 'no-such-container', { force: true });
  });

  test('delete() force removes a running container; conmon exits and its socket link goes', async () => {
    const c = await createContainer(['sleep', '1000']);
    const conmonPid = created.get(c.id)!;
    const conmonStart = await processStartTime(conmonPid);
    assert.ok(conmonStart && (await isSameProcess(conmonPid, conmonStart)));
    await readlink(join(base, 's', c.id));
    await runtime.delete(op, c.id, { force: true });
    await assert.rejects(runtime.state(op, c.id), NotFoundError);
    await waitUntil('conmon exit', async () => ((await isSameProcess(conmonPid, conmonStart)) ? undefined : true));
    await assert.rejects(stat(join(base, 's', c.id)), { code: 'ENOENT' });
  });

  test('attachSocketPath() serves stdout packets tagged 2', async () => {
    const c = await createContainer(['sh', '-c', 'while true; do echo tick; sleep 0.1; done']);
    const packet = await new Promise<Buffer>((resolve, reject) => {
      const sock = new SeqpacketSocket();
      const timer = setTimeout(() => { sock.destroy(); reject(new Error('no packet')); }, 3000);
      sock.on('error', reject);
      sock.on('data', (buf: Buffer) => {
        clearTimeout(timer);
        // node-unix-socket aborts the process when destroyed inside its own 'data' callback.
        setImmediate(() => sock.destroy());
        resolve(buf);
      });
      sock.connect(runtime.attachSocketPath(c.id));
    });
    assert.equal(packet[0], 2);
    assert.match(packet.subarray(1).toString(), /tick/);
    await runtime.delete(op, c.id, { force: true });
  });

  test('reopenLog() makes conmon write a fresh file after a rename; fails once conmon is gone', async () => {
    const c = await createContainer(['sh', '-c', 'i=0; while true; do echo line$i; i=$((i+1)); sleep 0.05; done']);
    await waitUntil('first line', async () => ((await readFile(c.logPath, 'utf8').catch(() => '')).includes('line1') ? true : undefined));
    await rename(c.logPath, `${c.logPath}.1`);
    await runtime.reopenLog(op, c.id);
    const fresh = await waitUntil('new log', async () => ((await readFile(c.logPath, 'utf8').catch(() => '')).includes('stdout F line') ? readFile(c.logPath, 'utf8') : undefined));
    const lastOld = Number(/line(\d+)\n$/.exec(await readFile(`${c.logPath}.1`, 'utf8'))?.[1]);
    assert.equal(Number(/line(\d+)/.exec(fresh)?.[1]), lastOld + 1, 'no line lost across the reopen');
    await runtime.kill(op, c.id, 'KILL');
    await exitOf(c.id);
    await waitUntil('conmon gone', () => (existsSync(runtime.ctlFifoPath(c.id)) ? undefined : true)).catch(() => undefined);
    await assert.rejects(runtime.reopenLog(op, c.id), { name: 'FailedPreconditionError' });
  });

  test('updateResources() changes the container cgroup', async () => {
    const c = await createContainer(['sleep', '1000']);
    await runtime.updateResources(op, c.id, { pids: { limit: 42 } });
    assert.equal((await readFile(`/sys/fs/cgroup/pids/${CGROUP_PARENT}/${c.id}/pids.max`, 'utf8')).trim(), '42');
    await runtime.delete(op, c.id, { force: true });
  });
});

describe('ConmonOciRuntime execSync()', () => {
  let id: string;
  before(async () => {
    id = (await createContainer(['sleep', '1000'])).id;
  });

  test('execSync() splits stdout and stderr and returns the exit code', async () => {
    const { release, ...r } = await runtime.execSync(op, id, { processSpec: processSpec(['sh', '-c', 'echo out; echo err >&2; exit 5']), timeoutSec: 0, terminal: false });
    release?.();
    assert.deepEqual({ ...r, stdout: r.stdout.toString(), stderr: r.stderr.toString() }, { exitCode: 5, stdout: 'out\n', stderr: 'err\n', timedOut: false });
  });

  test('execSync() with a terminal merges the streams on stdout', async () => {
    const r = await runtime.execSync(op, id, { processSpec: processSpec(['sh', '-c', 'echo a; echo b >&2; exit 4']), timeoutSec: 0, terminal: true });
    assert.equal(r.exitCode, 4);
    assert.equal(r.stdout.toString(), 'a\r\nb\r\n');
    assert.equal(r.stderr.length, 0);
  });

  test('execSync() times out, reports it and leaves no process behind', async () => {
    const t0 = Date.now();
    const r = await runtime.execSync(op, id, { processSpec: processSpec(['sleep', '10']), timeoutSec: 1, terminal: false });
    assert.equal(r.timedOut, true);
    assert.equal(r.exitCode, -1);
    assert.ok(Date.now() - t0 < 3000);
    assert.equal((await containerPids(id)).length, 1, 'only the container init is left');
  });

  test('execSync() aborted by the caller kills the command', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('caller gave up')), 300);
    await assert.rejects(runtime.execSync({ log: op.log, signal: controller.signal }, id, { processSpec: processSpec(['sleep', '10']), timeoutSec: 0, terminal: false }), /caller gave up/);
    await waitUntil('exec gone', async () => ((await containerPids(id)).length === 1 ? true : undefined), 2000);
  });

  test('execSync() caps each stream at 16 MiB', async () => {
    const big = String(17 * 1024 * 1024);
    const r = await runtime.execSync(op, id, { processSpec: processSpec(['sh', '-c', `head -c ${big} /dev/zero; head -c ${big} /dev/zero >&2; exit 0`]), timeoutSec: 30, terminal: false });
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout.length, EXEC_SYNC_MAX_OUTPUT);
    assert.equal(r.stderr.length, EXEC_SYNC_MAX_OUTPUT);
  });

  test('execSync() output past its first 64 KiB counts against the shared budget until the caller releases it; a call that does not fit is RESOURCE_EXHAUSTED, a line still fits', async () => {
    const MiB = 1024 * 1024;
    const given: number[] = [];
    const budget = new ExecOutputBudget(4 * MiB, (n) => given.push(n));
    const budgeted = new ConmonOciRuntime({
      handler: 'runc', runtimeBinary: RUNC, conmonPath: CONMON, runtimeRoot: runtimeRootFor(join(base, 'run'), 'runc'),
      socketDir: join(base, 's'), exitDir: join(base, 'exits'), scratchDir: join(base, 'scratch'), execOutputBudget: budget,
    });
    const print = (mib: number) => budgeted.execSync(op, id, { processSpec: processSpec(['head', '-c', String(mib * MiB), '/dev/zero']), timeoutSec: 30, terminal: false });
    const held = await print(3);
    assert.equal(held.stdout.length, 3 * MiB);
    const charged = 3 * MiB - 64 * 1024;
    assert.equal(budget.used, charged, 'held after the call returned: its answer is not written yet');
    assert.deepEqual(given, []);
    await assert.rejects(print(2), (e: Error) => e instanceof ResourceExhaustedError && /exec_sync_output_budget_mib/.test(e.message));
    assert.equal(budget.used, charged, 'the refused call gave back what it took');
    const line = await budgeted.execSync(op, id, { processSpec: processSpec(['echo', 'ok']), timeoutSec: 30, terminal: false });
    assert.equal(line.stdout.toString(), 'ok\n', 'a probe\'s line fits however full the budget is');
    line.release?.();
    const before = given.length;
    held.release!();
    held.release!();
    assert.equal(budget.used, 0);
    assert.deepEqual(given.slice(before), [charged], 'the release reports what it had taken, once');
    const small = await print(2);
    assert.equal(small.stdout.length, 2 * MiB);
    small.release!();
    assert.equal(budget.used, 0);
  });

  test('execSync() of a missing binary is NotFoundError in the runtime\'s words', async () => {
    await assert.rejects(runtime.execSync(op, id, { processSpec: processSpec(['/nope']), timeoutSec: 0, terminal: false }), (err: Error) => {
      assert.ok(err instanceof NotFoundError, String(err));
      assert.match(err.message, /\/nope.*no such file or directory/);
      return true;
    });
  });

  test('execSync() in an unknown container is NotFoundError', async () => {
    await assert.rejects(runtime.execSync(op, 'no-such-container', { processSpec: processSpec(['true']), timeoutSec: 0, terminal: false }), NotFoundError);
  });

  test('execSync() 200 times leaves no zombie, fd or temp dir', async (t) => {
    const spec = processSpec(['true']);
    const fdsBefore = (await readdir('/proc/self/fd')).length;
    const latencies: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      const r = await runtime.execSync(op, id, { processSpec: spec, timeoutSec: 5, terminal: false });
      latencies.push(performance.now() - t0);
      assert.equal(r.exitCode, 0);
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await readdir('/proc/self/fd')).length, fdsBefore);
    assert.deepEqual(await readdir(join(base, 'scratch')), []);
    assert.equal(await zombieChildren(), 0);
    assert.ok(!exits.some((e) => e.id === id), 'exec sessions wrote no exit file for the container');
    t.diagnostic(`execSync(true) median ${median(latencies.slice(0, 20)).toFixed(1)} ms (first 20), ${median(latencies).toFixed(1)} ms (200)`);
  });
});

describe('ConmonOciRuntime with crun', () => {
  test('crun handler behaviour: create, start, exec, kill, delete', async (t) => {
    let c: Started;
    try {
      c = await createContainer(['sleep', '1000'], { runtime: crun });
    } catch (err) {
      // crun refuses cgroup v1 hosts whose v2 hierarchy also has controllers ("hybrid mode").
      if (/hybrid mode not supported/.test(String(err))) {
        t.skip(`crun cannot run containers on this host: ${String(err)}`);
        return;
      }
      throw err;
    }
    assert.equal((await crun.state(op, c.id)).status, 'running');
    const r = await crun.execSync(op, c.id, { processSpec: processSpec(['sh', '-c', 'echo o; exit 2']), timeoutSec: 0, terminal: false });
    assert.equal(r.exitCode, 2);
    assert.equal(r.stdout.toString(), 'o\n');
    await crun.kill(op, c.id, 'KILL');
    assert.equal((await exitOf(c.id)).exitCode, 137);
    await crun.kill(op, c.id, 'KILL');
    await crun.delete(op, c.id, { force: false });
    await assert.rejects(crun.state(op, c.id), NotFoundError);
  });

  test('crun handler behaviour: unknown ids', async () => {
    await assert.rejects(crun.state(op, 'no-such-container'), NotFoundError);
    await assert.rejects(crun.kill(op, 'no-such-container', 'KILL'), NotFoundError);
    await crun.delete(op, 'no-such-container', { force: false });
  });
});
