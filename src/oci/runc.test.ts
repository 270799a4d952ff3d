import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AlreadyExistsError, FailedPreconditionError, NotFoundError } from '../lib/errors.ts';
import { OciRuntimeError } from './runtime.ts';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Op } from '../lib/op.ts';
import { RuncCli, parseFeatureMountOptions, parseFeatureNamespaces, parseState, runtimeError, runtimeMessage, signalArg } from './runc.ts';

test('runtimeMessage() reads JSON log lines, logfmt and plain text', () => {
  assert.equal(runtimeMessage('{"level":"error","msg":"container does not exist","time":"x"}\n'), 'container does not exist');
  assert.equal(runtimeMessage('{"level":"debug","msg":"noise"}\n{"msg":"boom","level":"error"}'), 'boom');
  assert.equal(runtimeMessage('time="2026-01-01T00:00:00Z" level=error msg="exec: \\"/nope\\": stat /nope: no such file"\n'), 'exec: "/nope": stat /nope: no such file');
  assert.equal(runtimeMessage('plain failure\n'), 'plain failure');
});

test('runtimeError() maps unknown containers to NotFoundError, except for delete', () => {
  const runcMissing = '{"level":"error","msg":"container does not exist"}';
  const crunMissing = '{"msg":"error opening file `/run/crun/x/status`: No such file or directory","level":"error"}';
  assert.ok(runtimeError('runc', 'state', 'x', runcMissing, 1) instanceof NotFoundError);
  assert.ok(runtimeError('crun', 'kill', 'x', crunMissing, 1) instanceof NotFoundError);
  assert.equal(runtimeError('runc', 'delete', 'x', runcMissing, 1), null);
  assert.equal(runtimeError('crun', 'delete', 'x', '{"msg":"cannot open directory \'/run/crun/x\': No such file or directory","level":"error"}', 1), null);
  assert.ok(runtimeError('crun', 'exec', 'x', 'error opening file `/run/crun/x/status`: No such file or directory', 1) instanceof NotFoundError);
  // a create never fails with "not found" for the container itself: the message is the runtime's
  assert.ok(runtimeError('runc', 'create', 'x', 'exec: "/bin/a": stat /bin/a: no such file or directory', 1) instanceof OciRuntimeError);
  assert.match(runtimeError('runc', 'start', 'abc', runcMissing, 1)?.message ?? '', /"abc".*runc.*container does not exist/);
});

test('runtimeError() treats kill of a stopped container as done', () => {
  assert.equal(runtimeError('runc', 'kill', 'x', '{"level":"error","msg":"container not running"}', 1), null);
  assert.equal(runtimeError('runc', 'kill', 'x', 'time="t" level=error msg="process already finished"', 1), null);
  assert.equal(runtimeError('crun', 'kill', 'x', '{"msg":"kill container: No such process","level":"error"}', 1), null);
  assert.ok(runtimeError('runc', 'start', 'x', '{"level":"error","msg":"container not running"}', 1) instanceof OciRuntimeError);
});

test('runtimeError() maps wrong-state and already-exists failures', () => {
  assert.ok(runtimeError('runc', 'start', 'x', '{"level":"error","msg":"cannot start an already running container"}', 1) instanceof FailedPreconditionError);
  assert.ok(runtimeError('runc', 'delete', 'x', '{"level":"error","msg":"cannot delete container x that is not stopped: running"}', 1) instanceof FailedPreconditionError);
  assert.ok(runtimeError('runc', 'create', 'x', 'container with id exists: x', 1) instanceof AlreadyExistsError);
  const other = runtimeError('runc', 'create', 'x', 'time="t" level=error msg="runc create failed: exec: \\"/bin/nope\\": stat /bin/nope: no such file or directory"', 1);
  assert.ok(other instanceof OciRuntimeError);
  assert.match(other.message, /stat \/bin\/nope: no such file or directory/);
});

test('parseState() keeps known statuses and the pid', () => {
  assert.deepEqual(parseState('{"ociVersion":"1.0.2","id":"x","pid":42,"status":"running"}', 'x', 'runc'), { status: 'running', pid: 42 });
  assert.deepEqual(parseState('{"pid":0,"status":"stopped"}', 'x', 'runc'), { status: 'stopped', pid: 0 });
  assert.deepEqual(parseState('{"pid":7,"status":"weird"}', 'x', 'runc'), { status: 'unknown', pid: 7 });
  assert.throws(() => parseState('not json', 'x', 'runc'), OciRuntimeError);
});

test('signalArg() accepts names with or without SIG and numbers', () => {
  assert.equal(signalArg('SIGTERM'), 'TERM');
  assert.equal(signalArg('kill'), 'KILL');
  assert.equal(signalArg(9), '9');
  assert.equal(signalArg('15'), '15');
});

test('parseFeatureMountOptions() reads the mount options a runtime lists in `features` (RRO is used only when "rro" is listed)', () => {
  assert.deepEqual([...parseFeatureMountOptions('{"ociVersionMin":"1.0.0","mountOptions":["bind","rro","rbind"]}')!], ['bind', 'rro', 'rbind']);
  assert.equal(parseFeatureMountOptions('{"ociVersionMin":"1.0.0"}'), undefined);
  assert.equal(parseFeatureMountOptions('Incorrect Usage: flag provided but not defined'), undefined);
});

test('runtimeError() maps an exec of a missing command to NotFound in the runtime\'s words', () => {
  const runc = '{"level":"error","msg":"exec failed: unable to start container process: exec: \\"/no/such/binary\\": stat /no/such/binary: no such file or directory"}';
  const err = runtimeError('runc', 'exec', 'ab12', runc, 1);
  assert.ok(err instanceof NotFoundError);
  assert.match(err.message, /\/no\/such\/binary: no such file or directory/);
  assert.ok(runtimeError('runc', 'exec', 'ab12', 'exec: "nosuch": executable file not found in $PATH', 1) instanceof NotFoundError);
  assert.ok(runtimeError('crun', 'exec', 'ab12', 'executable file `nosuch` not found in $PATH: No such file or directory', 1) instanceof NotFoundError);
  assert.ok(runtimeError('runc', 'exec', 'ab12', 'exec failed: unable to start container process: exec: "/etc/passwd": permission denied', 1) instanceof FailedPreconditionError);
});

test('runtimeError() bounds a huge stderr to its last 4 KiB', () => {
  const err = runtimeError('runc', 'create', 'ab12', `${'noise '.repeat(100_000)}the cause`, 1)!;
  assert.ok(err.message.length < 4300, `${err.message.length} chars`);
  assert.ok(err.message.endsWith('the cause'));
});

test('runtimeError() answers a memory limit below usage with FailedPreconditionError', () => {
  const runc = 'time="t" level=error msg="unable to set memory limit to 1048576 (current usage: 3186688, peak usage: 3391488)"';
  const err = runtimeError('runc', 'update', 'x', runc, 1);
  assert.ok(err instanceof FailedPreconditionError);
  assert.match(err.message, /below the container's current usage.*current usage: 3186688/);
  const crun = '{"msg":"write `memory.limit_in_bytes`: Device or resource busy","level":"error"}';
  assert.ok(runtimeError('crun', 'update', 'x', crun, 1) instanceof FailedPreconditionError);
  assert.ok(runtimeError('runc', 'update', 'x', 'time="t" level=error msg="invalid cpu quota"', 1) instanceof OciRuntimeError);
});

test('parseFeatureNamespaces() reads linux.namespaces of `features` (user namespaces are claimed only when "user" is listed)', () => {
  assert.deepEqual([...parseFeatureNamespaces('{"linux":{"namespaces":["cgroup","user","uts"]}}')!], ['cgroup', 'user', 'uts']);
  assert.equal(parseFeatureNamespaces('{"mountOptions":[]}'), undefined);
  assert.equal(parseFeatureNamespaces('unknown command features'), undefined);
});

test('RuncCli.delete(force) deletes a stopped container without --force and adds it only for one that is not stopped', async () => {
  // runc >= 1.2 sleeps at least 100 ms in every `delete --force`, stopped container or not.
  const dir = await mkdtemp(join(tmpdir(), 'critter-runc-delete-'));
  try {
    const calls = join(dir, 'calls');
    const bin = join(dir, 'fake-runc');
    await writeFile(bin, [
      '#!/bin/sh',
      `echo "$*" >> ${calls}`,
      'case "$*" in',
      '  *--force*) exit 0 ;;',
      `  *running-ctr*) echo '{"level":"error","msg":"cannot delete container running-ctr that is not stopped: running"}' >&2; exit 1 ;;`,
      `  *broken-ctr*) echo '{"level":"error","msg":"unable to remove container state dir: permission denied"}' >&2; exit 1 ;;`,
      'esac',
    ].join('\n') + '\n', { mode: 0o755 });
    const cli = new RuncCli({ handler: 'runc', binary: bin, root: '/r', systemdCgroup: false, timeoutMs: 10_000 });
    const op: Op = { log: {} as Op['log'], signal: new AbortController().signal };
    await cli.delete(op, 'stopped-ctr', true);
    await cli.delete(op, 'running-ctr', true);
    await assert.rejects(cli.delete(op, 'running-ctr', false), FailedPreconditionError);
    await assert.rejects(cli.delete(op, 'broken-ctr', true), OciRuntimeError);
    const argv = (await readFile(calls, 'utf8')).trim().split('\n').map((l) => l.replace('--root /r --log-format json ', ''));
    assert.deepEqual(argv, ['delete stopped-ctr', 'delete running-ctr', 'delete --force running-ctr', 'delete running-ctr', 'delete broken-ctr']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
