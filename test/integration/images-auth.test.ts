/**
 * Pulls from a registry behind HTTP basic auth (distribution's htpasswd backend with
 * bcrypt entries): CRI AuthConfig credentials work, missing or wrong ones are refused
 * with PERMISSION_DENIED, and no password ever reaches an error message or the log.
 * The image is pushed while the registry is open, then the same storage is served
 * behind auth (the push fixture speaks no auth).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as Code } from '@grpc/grpc-js';
import { run } from '../../src/lib/exec.ts';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { buildImage, file, pushImage, type PushedImage } from '../fixtures/image-builder.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { CLI, startDaemon, type RunningDaemon } from './helpers/daemon.ts';

const USER = 'critter-puller';
const PASSWORD = 'Pw-7f3a9c-right';
const WRONG_PASSWORD = 'Pw-0d41e2-wrong';

let storageDir: string;
let registry: RunningRegistry;
let image: PushedImage;
let d: RunningDaemon;

before(async () => {
  storageDir = await mkdtemp(join(tmpdir(), 'critter-auth-registry-'));
  const open = await startRegistry({ storageDir });
  try {
    const built = await buildImage({ layers: [{ entries: [file('private.txt', 'only for authenticated pulls\n')] }], config: { Cmd: ['sh'] } });
    image = await pushImage(open, 'critter-test/private', 'v1', built);
  } finally {
    await open.stop();
  }
  registry = await startRegistry({ storageDir, htpasswd: [{ username: USER, password: PASSWORD }] });
  // The pushed reference names the first registry's port; pull through the second one.
  image = { ...image, reference: `${registry.host}/critter-test/private:v1` };
  d = await startDaemon({ registriesConf: registriesConfText(registry.host) });
});
after(async () => {
  await d?.stop();
  await registry?.stop();
  if (storageDir) await rm(storageDir, { recursive: true, force: true });
});

type GrpcErr = { code: number; details: string };

async function removeImage(): Promise<void> {
  await d.client.call('RemoveImage', { image: { image: image.reference } });
}

test('PullImage with AuthConfig username and password pulls from a basic-auth registry', async () => {
  const r = await d.client.call('PullImage', { image: { image: image.reference }, auth: { username: USER, password: PASSWORD } });
  assert.equal(r.image_ref, image.imageId);
  await removeImage();
});

test('PullImage with AuthConfig auth (base64 user:password) pulls too', async () => {
  const auth = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
  const r = await d.client.call('PullImage', { image: { image: image.reference }, auth: { auth } });
  assert.equal(r.image_ref, image.imageId);
  await removeImage();
});

test('PullImage without credentials fails with PERMISSION_DENIED naming the image and the host', async () => {
  await assert.rejects(d.client.call('PullImage', { image: { image: image.reference } }), (err: GrpcErr) => {
    assert.equal(err.code, Code.PERMISSION_DENIED, `${Code[err.code]}: ${err.details}`);
    assert.ok(err.details.includes(registry.host), err.details);
    assert.ok(err.details.includes('critter-test/private'), err.details);
    return true;
  });
  assert.equal((await d.client.call('ImageStatus', { image: { image: image.reference } })).image, null);
});

test('PullImage with a wrong password fails with PERMISSION_DENIED whose message holds no password', async () => {
  await assert.rejects(d.client.call('PullImage', { image: { image: image.reference }, auth: { username: USER, password: WRONG_PASSWORD } }), (err: GrpcErr) => {
    assert.equal(err.code, Code.PERMISSION_DENIED, `${Code[err.code]}: ${err.details}`);
    assert.ok(!err.details.includes(WRONG_PASSWORD), err.details);
    assert.ok(!err.details.includes(PASSWORD), err.details);
    return true;
  });
});

test('critter pull --creds pulls through the daemon; a wrong password exits 1 without echoing it', async () => {
  const args = [CLI, 'pull', '--run-root', d.dirs.runRoot, image.reference];
  const ok = await run(process.execPath, [...args, '--creds', `${USER}:${PASSWORD}`], { timeoutMs: 60_000 });
  assert.ok(ok.stdout.trim().endsWith(image.imageId), ok.stdout);
  assert.ok(!ok.stdout.includes(PASSWORD) && !ok.stderr.includes(PASSWORD));
  await removeImage();
  const bad = await run(process.execPath, [...args, '--creds', `${USER}:${WRONG_PASSWORD}`], { timeoutMs: 60_000 }).then(
    () => assert.fail('critter pull with a wrong password succeeded'),
    (err: { stderr?: string; message: string }) => err,
  );
  const text = bad.stderr ?? bad.message;
  assert.match(text, /PERMISSION_DENIED/);
  assert.ok(!text.includes(WRONG_PASSWORD), text);
});

test('the daemon log never contains a password', () => {
  const logs = d.logs();
  assert.ok(logs.length > 0);
  for (const secret of [PASSWORD, WRONG_PASSWORD, Buffer.from(`${USER}:${PASSWORD}`).toString('base64')]) {
    assert.ok(!logs.includes(secret), `the log contains ${secret}`);
  }
});
