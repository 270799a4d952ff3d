import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { FailedPreconditionError, UnavailableError } from '../lib/errors.ts';
import { PauseImage, infraProcessFromImageConfig } from './infra-image.ts';

const op = { log: pino({ level: 'silent' }), signal: new AbortController().signal };
const REF = 'registry.k8s.io/pause:3.10';

test('infraProcessFromImageConfig() joins Entrypoint and Cmd and reads a numeric uid:gid', () => {
  const p = infraProcessFromImageConfig(REF, { config: { Entrypoint: ['/pause'], Cmd: ['-x'], User: '65535:65535', WorkingDir: '/w', Env: ['A=1'] } });
  assert.deepEqual(p, { args: ['/pause', '-x'], env: ['A=1'], cwd: '/w', uid: 65535, gid: 65535 });
});

test('infraProcessFromImageConfig() defaults to root, / and a PATH, and takes gid 0 for a bare uid', () => {
  assert.deepEqual(infraProcessFromImageConfig(REF, { config: { Cmd: ['/pause'] } }),
    { args: ['/pause'], env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], cwd: '/', uid: 0, gid: 0 });
  assert.deepEqual(infraProcessFromImageConfig(REF, { config: { Entrypoint: ['/pause'], User: '65535' } }).uid, 65535);
  assert.deepEqual(infraProcessFromImageConfig(REF, { config: { Entrypoint: ['/pause'], User: '65535' } }).gid, 0);
});

test('infraProcessFromImageConfig() refuses a user name and a config without a command, naming the image', () => {
  assert.throws(() => infraProcessFromImageConfig(REF, { config: { Entrypoint: ['/pause'], User: 'nobody' } }), (e: Error) => e instanceof FailedPreconditionError && e.message.includes(REF) && e.message.includes('nobody'));
  assert.throws(() => infraProcessFromImageConfig(REF, { config: {} }), (e: Error) => e instanceof FailedPreconditionError && e.message.includes(REF));
});

function fakeImages(stored: boolean, pullError?: Error) {
  const pulls: string[] = [];
  const rec = { id: 'abc', topLayer: 'top' };
  return {
    pulls,
    images: {
      find: (spec: string) => (stored && spec === REF ? rec : undefined),
      pull: async (_op: unknown, ref: string) => { pulls.push(ref); if (pullError) throw pullError; return rec; },
      config: async () => ({ config: { Entrypoint: ['/pause'], User: '65535:65535' } }),
    },
  };
}

test('PauseImage.prepare() uses a stored image without pulling', async () => {
  const f = fakeImages(true);
  const prepared = await new PauseImage({ reference: REF, images: f.images, lowerDirs: () => ['/s/l/A'] }).prepare(op);
  assert.deepEqual(f.pulls, []);
  assert.deepEqual(prepared, { imageId: 'abc', lowerDirs: ['/s/l/A'], process: { args: ['/pause'], env: [prepared.process.env[0]!], cwd: '/', uid: 65535, gid: 65535 } });
});

test('PauseImage.prepare() pulls an absent image and fails with the pull\'s error', async () => {
  const ok = fakeImages(false);
  await new PauseImage({ reference: REF, images: ok.images, lowerDirs: () => ['/s/l/A'] }).prepare(op);
  assert.deepEqual(ok.pulls, [REF]);
  const failing = fakeImages(false, new UnavailableError('registry down'));
  await assert.rejects(new PauseImage({ reference: REF, images: failing.images, lowerDirs: () => ['/s/l/A'] }).prepare(op), /registry down/);
});

test('PauseImage.prepare() refuses an image without layers', async () => {
  const f = fakeImages(true);
  await assert.rejects(new PauseImage({ reference: REF, images: f.images, lowerDirs: () => [] }).prepare(op), FailedPreconditionError);
});
