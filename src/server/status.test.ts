import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status as Code } from '@grpc/grpc-js';
import * as E from '../lib/errors.ts';
import { ExecError } from '../lib/exec.ts';
import { CniPluginError } from '../network/cni-plugin.ts';
import { UsernsSetupError } from '../network/userns.ts';
import { OciRuntimeError } from '../oci/runtime.ts';
import { MAX_DETAILS_BYTES, toServiceError, toStatus } from './status.ts';

const table: [string, Error, Code][] = [
  ['NotFound', new E.NotFoundError('pod "abc" not found'), Code.NOT_FOUND],
  ['AlreadyExists', new E.AlreadyExistsError('x'), Code.ALREADY_EXISTS],
  ['InvalidArgument', new E.InvalidArgumentError('x'), Code.INVALID_ARGUMENT],
  ['FailedPrecondition', new E.FailedPreconditionError('x'), Code.FAILED_PRECONDITION],
  ['Unavailable', new E.UnavailableError('x'), Code.UNAVAILABLE],
  ['Unimplemented', new E.UnimplementedError('x'), Code.UNIMPLEMENTED],
  ['PermissionDenied', new E.PermissionDeniedError('x'), Code.PERMISSION_DENIED],
  ['DeadlineExceeded', new E.DeadlineExceededError('x'), Code.DEADLINE_EXCEEDED],
  ['ResourceExhausted', new E.ResourceExhaustedError('x'), Code.RESOURCE_EXHAUSTED],
  ['a plain Error', new Error('boom'), Code.UNKNOWN],
];
for (const [name, err, code] of table) {
  test(`toStatus() maps ${name} to ${Code[code]}`, () => {
    const s = toStatus(err);
    assert.equal(s.code, code);
    assert.equal(s.known, code !== Code.UNKNOWN);
  });
}

test('toStatus() joins the cause chain into the details', () => {
  const root = new Error('container not running');
  const mid = new Error('runc start exited 1', { cause: root });
  const s = toStatus(new E.FailedPreconditionError('cannot start container "ab12"', { cause: mid }));
  assert.equal(s.details, 'cannot start container "ab12": runc start exited 1: container not running');
});

test('toStatus() reports a caller deadline as DEADLINE_EXCEEDED and a cancel as CANCELLED', () => {
  const deadline = new AbortController();
  deadline.abort(new DOMException('deadline', 'TimeoutError'));
  assert.equal(toStatus(new Error('aborted'), deadline.signal).code, Code.DEADLINE_EXCEEDED);
  const cancel = new AbortController();
  cancel.abort(new DOMException('cancelled', 'AbortError'));
  assert.equal(toStatus(new Error('aborted'), cancel.signal).code, Code.CANCELLED);
});

test('toStatus() keeps a domain code even when the signal was aborted', () => {
  const c = new AbortController();
  c.abort();
  assert.equal(toStatus(new E.NotFoundError('gone'), c.signal).code, Code.NOT_FOUND);
});

test('toStatus() never returns empty details', () => {
  assert.ok(toStatus(undefined).details.length > 0);
  assert.equal(toStatus('text').details, 'text');
});

test('toStatus() caps the details at MAX_DETAILS_BYTES however long the cause chain', () => {
  const s = toStatus(new E.NotFoundError(`container "${'x'.repeat(131072)}" not found`, { cause: new Error('y'.repeat(100_000)) }));
  assert.equal(s.code, Code.NOT_FOUND);
  assert.ok(Buffer.byteLength(s.details) <= MAX_DETAILS_BYTES, `${Buffer.byteLength(s.details)} bytes`);
  assert.ok(s.details.startsWith('container "xxx'));
  assert.ok(s.details.endsWith('yyy'));
});

test('toServiceError() caps details it is handed directly', () => {
  const e = toServiceError({ code: Code.INVALID_ARGUMENT, details: 'z'.repeat(50_000), known: true });
  assert.ok(Buffer.byteLength(e.details ?? '') <= MAX_DETAILS_BYTES);
});

test('toStatus() answers a full disk anywhere in the cause chain with RESOURCE_EXHAUSTED naming the path and operation', () => {
  const enospc = Object.assign(new Error('ENOSPC: no space left on device, open \'/var/lib/critter/pods/x/metadata.json\''), { code: 'ENOSPC', syscall: 'open', path: '/var/lib/critter/pods/x/metadata.json' });
  const s = toStatus(new Error('writing the pod record', { cause: enospc }));
  assert.equal(s.code, Code.RESOURCE_EXHAUSTED);
  assert.match(s.details, /^no space left on device \(open "\/var\/lib\/critter\/pods\/x\/metadata.json"\): writing the pod record/);
  assert.equal(toStatus(Object.assign(new Error('EDQUOT'), { code: 'EDQUOT' })).code, Code.RESOURCE_EXHAUSTED);
  assert.equal(toStatus(new Error('runc create failed: write /sys/x: no space left on device')).code, Code.RESOURCE_EXHAUSTED, 'the runtime\'s words');
  assert.equal(toStatus(new Error('something else')).code, Code.UNKNOWN);
});

test('toStatus() maps the host\'s other limits by errno anywhere in the chain, naming the operation', () => {
  const errno = (code: string, syscall: string, path?: string): Error => Object.assign(new Error(code), { code, syscall, path });
  const cases: [Error, Code, RegExp][] = [
    [errno('EMFILE', 'open', '/var/lib/critter/x'), Code.RESOURCE_EXHAUSTED, /^too many open files in the daemon \(open "\/var\/lib\/critter\/x"\)/],
    [errno('ENFILE', 'open'), Code.RESOURCE_EXHAUSTED, /^too many open files on the host \(open\)/],
    [errno('ENOMEM', 'spawn'), Code.RESOURCE_EXHAUSTED, /^out of memory \(spawn\)/],
    [errno('EROFS', 'mkdir', '/var/log/pods/p'), Code.FAILED_PRECONDITION, /^read-only file system \(mkdir "\/var\/log\/pods\/p"\)/],
  ];
  for (const [cause, code, details] of cases) {
    const s = toStatus(new Error('creating the container', { cause }));
    assert.equal(s.code, code, s.details);
    assert.match(s.details, details);
    assert.ok(s.known);
  }
  // An errno that may well be critter's own mistake stays UNKNOWN.
  assert.equal(toStatus(errno('ENOENT', 'open', '/x')).code, Code.UNKNOWN);
});

test('toStatus() keeps the code of a domain error wrapped by a plain one', () => {
  const s = toStatus(new Error('starting the pod', { cause: new E.NotFoundError('image "x" not found') }));
  assert.equal(s.code, Code.NOT_FOUND);
  assert.equal(s.details, 'starting the pod: image "x" not found');
});

test('toStatus() answers a refusal of the runtime, a CNI plugin or a host tool with FAILED_PRECONDITION, not UNKNOWN', () => {
  assert.equal(toStatus(new OciRuntimeError('runc create "c1" failed: exec: "nope": executable file not found in $PATH')).code, Code.FAILED_PRECONDITION);
  assert.equal(toStatus(new CniPluginError('CNI plugin bridge ADD failed: failed to set bridge addr', 100)).code, Code.FAILED_PRECONDITION);
  assert.equal(toStatus(new CniPluginError('CNI plugin bridge ADD failed: busy (code 11)', 11)).code, Code.UNAVAILABLE);
  assert.equal(toStatus(new CniPluginError('CNI plugin host-local ADD failed: failed to allocate for range 0: no IP addresses available in range set: 10.0.0.1-10.0.0.2', 999)).code, Code.RESOURCE_EXHAUSTED);
  assert.equal(toStatus(new ExecError('iptables exited 4', { exitCode: 4, stderr: 'Another app is currently holding the xtables lock', stdout: '' })).code, Code.FAILED_PRECONDITION);
  assert.equal(toStatus(new UsernsSetupError('writing uid_map: EPERM')).code, Code.FAILED_PRECONDITION);
});
