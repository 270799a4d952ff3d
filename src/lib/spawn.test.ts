import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn as nodeSpawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitStatus, spawnChild, type Child, bindLibc, MIN_GLIBC, spawnSupport } from './spawn.ts';

interface Outcome { code: number | null; signal: NodeJS.Signals | null; out: string; err: string }

function collect(child: Child): Promise<Outcome> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal, out, err }));
  });
}

test('runs a command: stdin in, stdout and stderr out, exit code, exit before close', async () => {
  const child = spawnChild('/bin/sh', ['-c', 'read line; echo "got $line"; echo oops >&2; exit 7']);
  const events: string[] = [];
  child.on('exit', () => events.push('exit'));
  child.on('close', () => events.push('close'));
  child.stdin!.end('hello\n');
  assert.ok(child.pid! > 0);
  const r = await collect(child);
  assert.deepEqual(r, { code: 7, signal: null, out: 'got hello\n', err: 'oops\n' });
  assert.deepEqual(events, ['exit', 'close']);
  assert.equal(child.exitCode, 7);
});

test('a child killed by a signal reports the signal by name; kill() is false once reaped', async () => {
  const child = spawnChild('/bin/sleep', ['30'], { stdio: ['ignore', 'ignore', 'ignore'] });
  const exited = new Promise<unknown[]>((resolve) => child.once('exit', (...a: unknown[]) => resolve(a)));
  assert.equal(child.kill('SIGKILL'), true);
  assert.deepEqual(await exited, [null, 'SIGKILL']);
  assert.equal(child.kill('SIGKILL'), false);
});

test('a missing program is an ENOENT error event, with closed pipes and no exit', async () => {
  const child = spawnChild('/nonexistent/program', ['a']);
  let exited = false;
  child.on('exit', () => { exited = true; });
  child.stdin!.on('error', () => undefined);
  child.stdin!.end('ignored');
  const err = await new Promise<NodeJS.ErrnoException>((resolve) => child.once('error', resolve));
  assert.equal(err.code, 'ENOENT');
  assert.match(err.message, /spawn \/nonexistent\/program ENOENT/);
  // No pid, so nothing is ever reaped for it: one loop turn lets the closed pipes' events run.
  await new Promise((r) => setImmediate(r));
  assert.equal(exited, false);
  assert.equal(child.pid, undefined);
});

test('a bare name is looked up in the PATH of the environment given', async () => {
  const r = await collect(spawnChild('echo', ['hi'], { env: { PATH: '/usr/bin:/bin' } }));
  assert.equal(r.out, 'hi\n');
  const missing = spawnChild('echo', ['hi'], { env: { PATH: '/nonexistent' } });
  await assert.rejects(collect(missing), { code: 'ENOENT' });
});

test('the child starts clean: default signals, none blocked, only its stdio fds, the env and cwd given', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'critter-spawn-'));
  try {
    // `ls` alone, its output redirected in the child: in a pipeline the shell itself would
    // still hold the pipe's read end (fd 3) for a moment while ls lists the shell's fds.
    const script = 'grep -E "^Sig(Ign|Blk)" /proc/self/status; ls /proc/$$/fd > fds; tr "\\n" " " < fds; echo; pwd; env | grep -c .';
    const r = await collect(spawnChild('/bin/sh', ['-c', script], { env: { ONLY: 'this' }, cwd: dir }));
    const [blk, ign, fds, cwd, envCount] = r.out.trim().split('\n');
    // Node itself ignores SIGPIPE: the child must not inherit that.
    assert.equal(ign, 'SigIgn:\t0000000000000000');
    assert.equal(blk, 'SigBlk:\t0000000000000000');
    // The shell's own fds: stdin, stdout, stderr (and at most one it opened for itself, e.g. 10).
    const open = fds!.trim().split(' ').map(Number).filter((fd) => fd < 10);
    assert.deepEqual(open, [0, 1, 2]);
    assert.equal(cwd, dir);
    assert.equal(Number(envCount), 2, 'ONLY and the PWD the shell sets');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('ignored fds are /dev/null; fds from 3 up are two-way pipes', async () => {
  const child = spawnChild('/bin/sh', ['-c', 'readlink /proc/self/fd/0 >&3; read x <&4; echo "four:$x" >&3'], { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] });
  let three = '';
  child.stdio[3]!.on('data', (d: Buffer) => { three += d.toString(); });
  child.stdio[4]!.end('ping\n');
  assert.equal(child.stdin, null);
  const r = await collect(child);
  assert.equal(r.code, 0);
  assert.equal(three, '/dev/null\nfour:ping\n');
});

test('many children at once are each reaped with their own status, beside Node\'s own spawn', async () => {
  const ours = Array.from({ length: 40 }, (_, i) => collect(spawnChild('/bin/sh', ['-c', `exit ${i}`], { stdio: ['ignore', 'pipe', 'pipe'] })));
  const theirs = new Promise<number | null>((resolve) => nodeSpawn('/bin/sh', ['-c', 'exit 42']).once('exit', resolve));
  const results = await Promise.all(ours);
  assert.deepEqual(results.map((r) => r.code), Array.from({ length: 40 }, (_, i) => i));
  assert.equal(await theirs, 42);
});

test('exitStatus() is the exit code, or 128 + the number of the killing signal (by name or number)', () => {
  assert.equal(exitStatus(3, null), 3);
  assert.equal(exitStatus(null, 'SIGKILL'), 137);
  assert.equal(exitStatus(null, 'SIGUSR1'), 138);
  assert.equal(exitStatus(null, 15), 143);
});

test('bindLibc(): a C library without posix_spawn_file_actions_addclosefrom_np (glibc < 2.34) is one sentence naming it and the version, not a crash', () => {
  let asked = 0;
  const olderGlibc = (definition: string): ((...args: unknown[]) => unknown) => {
    if (definition.includes('addclosefrom_np')) throw new Error('Cannot find function');
    return () => 0;
  };
  const why = bindLibc(olderGlibc, () => { asked++; return '2.31'; });
  assert.equal(why, `this host's C library (glibc 2.31) lacks posix_spawn_file_actions_addclosefrom_np: critter needs glibc ${MIN_GLIBC} or later (Debian 12, Ubuntu 22.04, RHEL 9 and newer)`);
  assert.equal(asked, 1);
  const notGlibc = bindLibc((d) => { if (d.includes('_np(')) throw new Error('no'); return () => 0; }, () => undefined);
  assert.match(notGlibc as string, /^this host's C library \(not glibc\) lacks posix_spawn_file_actions_addclosefrom_np, posix_spawn_file_actions_addchdir_np:/);
});

test('bindLibc(): every function present binds them all, without asking for the version; this host can spawn', () => {
  const bound = bindLibc(() => () => 0, () => assert.fail('version asked'));
  assert.equal(typeof bound, 'object');
  assert.equal(spawnSupport(), null);
});
