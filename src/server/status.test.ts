import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status as Code } from '@grpc/grpc-js';
import * as E from '../lib/errors.ts';
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
