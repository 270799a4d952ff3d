import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../lib/errors.ts';
import { ContainerStreamingService } from './service.ts';
import type { ContainerStreamTarget, StreamTargets } from './targets.ts';

const op = { log: pino({ level: 'silent' }), signal: new AbortController().signal };
const base: ContainerStreamTarget = { id: 'abc123', handler: 'runc', tty: false, stdin: true, stdinOnce: true, running: true, bundleDir: '/b' };

function service(targets: Record<string, ContainerStreamTarget>): { svc: ContainerStreamingService; issued: string[] } {
  const issued: string[] = [];
  const lookup: StreamTargets = {
    async container(id) {
      const t = Object.values(targets).find((c) => c.id.startsWith(id));
      if (!t) throw new NotFoundError(`container "${id}" not found`);
      return t;
    },
    async podNetns(podId) {
      if (podId !== 'pod1') throw new NotFoundError(`pod "${podId}" not found`);
      return { podId, netnsPath: null };
    },
  };
  const server = {
    prepareExec: (r: { containerId: string }) => { issued.push(`exec:${r.containerId}`); return 'http://x/exec/t'; },
    prepareAttach: (r: { containerId: string }) => { issued.push(`attach:${r.containerId}`); return 'http://x/attach/t'; },
    preparePortForward: (r: { podId: string }) => { issued.push(`pf:${r.podId}`); return 'http://x/portforward/t'; },
  };
  return { svc: new ContainerStreamingService({ server, targets: lookup }), issued };
}

test('ContainerStreamingService exec()/attach() issue URLs for the full id of a running container', async () => {
  const { svc, issued } = service({ a: base });
  assert.equal(await svc.exec(op, { containerId: 'abc', cmd: ['true'], tty: false, stdin: false, stdout: true, stderr: true }), 'http://x/exec/t');
  assert.equal(await svc.attach(op, { containerId: 'abc', tty: false, stdin: true, stdout: true, stderr: true }), 'http://x/attach/t');
  assert.equal(await svc.portForward(op, { podId: 'pod1', ports: [80] }), 'http://x/portforward/t');
  assert.deepEqual(issued, ['exec:abc123', 'attach:abc123', 'pf:pod1']);
});

test('ContainerStreamingService refuses unknown, stopped and tty-mismatched targets', async () => {
  const { svc, issued } = service({ a: { ...base, running: false }, b: { ...base, id: 'tty1', tty: true } });
  await assert.rejects(svc.exec(op, { containerId: 'nope', cmd: ['true'], tty: false, stdin: false, stdout: true, stderr: false }), NotFoundError);
  await assert.rejects(svc.exec(op, { containerId: 'abc', cmd: ['true'], tty: false, stdin: false, stdout: true, stderr: false }), FailedPreconditionError);
  await assert.rejects(svc.attach(op, { containerId: 'abc', tty: false, stdin: false, stdout: true, stderr: false }), FailedPreconditionError);
  await assert.rejects(svc.attach(op, { containerId: 'tty1', tty: false, stdin: false, stdout: true, stderr: true }), (e: Error) => e instanceof InvalidArgumentError && /tty/.test(e.message));
  await assert.rejects(svc.portForward(op, { podId: 'pod2', ports: [] }), NotFoundError);
  assert.deepEqual(issued, []);
});
