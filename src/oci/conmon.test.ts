import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attachSocketPath, conmonCreateArgs, ctlFifoPath } from './conmon.ts';
import type { CreateContainerOptions } from './runtime.ts';

const runtime = { binary: '/usr/sbin/runc', conmonRuntimeArgs: () => ['--root=/run/c/runtime/runc'] };
const deps = { socketDir: '/run/c/s', exitDir: '/run/c/exits', systemdCgroup: false };
const base: CreateContainerOptions = { id: 'abc', bundle: '/run/c/b/abc', logPath: '/var/log/pods/p/c/0.log', persistDir: '/var/lib/c/abc', terminal: false, stdin: false, stdinOnce: false };

function valueOf(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

test('conmonCreateArgs() passes the dirs, pid files, runtime and its root', () => {
  const args = conmonCreateArgs(deps, runtime, base);
  assert.equal(valueOf(args, '-b'), '/run/c/b/abc');
  assert.equal(valueOf(args, '-c'), 'abc');
  assert.equal(valueOf(args, '--exit-dir'), '/run/c/exits');
  assert.equal(valueOf(args, '-l'), 'k8s-file:/var/log/pods/p/c/0.log');
  assert.equal(valueOf(args, '--persist-dir'), '/var/lib/c/abc');
  assert.equal(valueOf(args, '-P'), '/var/lib/c/abc/conmon.pid');
  assert.equal(valueOf(args, '-p'), '/var/lib/c/abc/pidfile');
  assert.equal(valueOf(args, '-r'), '/usr/sbin/runc');
  assert.equal(valueOf(args, '--runtime-arg'), '--root=/run/c/runtime/runc');
  assert.equal(valueOf(args, '--socket-dir-path'), '/run/c/s');
  for (const absent of ['-t', '-i', '--leave-stdin-open', '--syslog', '-s', '--log-size-max']) assert.ok(!args.includes(absent), absent);
});

test('conmonCreateArgs() chooses tty, stdin and stdin-once flags', () => {
  assert.ok(conmonCreateArgs(deps, runtime, { ...base, terminal: true, stdin: true }).includes('-t'));
  assert.ok(!conmonCreateArgs(deps, runtime, { ...base, terminal: true, stdin: true }).includes('-i'));
  const keepOpen = conmonCreateArgs(deps, runtime, { ...base, stdin: true });
  assert.ok(keepOpen.includes('-i') && keepOpen.includes('--leave-stdin-open'));
  const once = conmonCreateArgs(deps, runtime, { ...base, stdin: true, stdinOnce: true });
  assert.ok(once.includes('-i') && !once.includes('--leave-stdin-open'));
});

test('conmonCreateArgs() honours a per-container exit dir, log size and systemd', () => {
  const args = conmonCreateArgs({ ...deps, systemdCgroup: true }, runtime, { ...base, exitDir: '/elsewhere', logSizeMax: 1024 });
  assert.equal(valueOf(args, '--exit-dir'), '/elsewhere');
  assert.equal(valueOf(args, '--log-size-max'), '1024');
  assert.ok(args.includes('-s'));
});

test('attachSocketPath() and ctlFifoPath() go through the socket-dir link', () => {
  assert.equal(attachSocketPath('/run/c/s', 'abc'), '/run/c/s/abc/attach');
  assert.equal(ctlFifoPath('/run/c/s', 'abc'), '/run/c/s/abc/ctl');
});
