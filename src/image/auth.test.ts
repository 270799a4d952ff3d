import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '../lib/errors.ts';
import { AuthFile } from './auth-file.ts';
import { basicAuthorization, credentialsFingerprint, credentialsFromAuthConfig, describeCredentials } from './auth.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('credentialsFromAuthConfig() decodes auth and prefers explicit username/password', () => {
  assert.equal(credentialsFromAuthConfig({ username: '', password: '', auth: '' }), undefined);
  assert.deepEqual(credentialsFromAuthConfig({ auth: b64('bob:pa:ss') }), { username: 'bob', password: 'pa:ss' });
  assert.deepEqual(credentialsFromAuthConfig({ username: 'al', password: 'x', auth: b64('bob:y') }), { username: 'al', password: 'x' });
  assert.deepEqual(credentialsFromAuthConfig({ identity_token: 'it', server_address: 'r.io' }), { identityToken: 'it', serverAddress: 'r.io' });
  assert.equal(basicAuthorization({ username: 'u', password: 'p' }), `Basic ${b64('u:p')}`);
  assert.notEqual(credentialsFingerprint({ username: 'u', password: 'p' }), credentialsFingerprint({ username: 'u', password: 'q' }));
  assert.equal(describeCredentials({ registryToken: 'secret' }), 'a registry token');
});

test('credentialsFromAuthConfig() rejects a malformed auth without quoting it', () => {
  const secret = b64('no-colon-secret');
  assert.throws(() => credentialsFromAuthConfig({ auth: secret }), (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError);
    assert.ok(!err.message.includes(secret) && !err.message.includes('no-colon-secret'), err.message);
    return true;
  });
});

test('AuthFile.lookup() finds host, namespaced and legacy Docker Hub keys', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'auth-file-'));
  try {
    const path = join(dir, 'config.json');
    await writeFile(
      path,
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: b64('hub:hubpass') },
          'quay.io': { auth: b64('q:qpass') },
          'quay.io/team': { auth: b64('team:tpass') },
          'token.example.com': { identitytoken: 'refresh-me' },
          'empty.example.com': {},
        },
      }),
    );
    const file = new AuthFile({ path });
    assert.deepEqual(await file.lookup('docker.io', 'library/busybox'), { username: 'hub', password: 'hubpass', serverAddress: 'https://index.docker.io/v1/' });
    assert.equal((await file.lookup('quay.io', 'other/app'))?.username, 'q');
    assert.equal((await file.lookup('quay.io', 'team/app'))?.username, 'team');
    assert.equal((await file.lookup('token.example.com'))?.identityToken, 'refresh-me');
    assert.equal(await file.lookup('empty.example.com'), undefined);
    assert.equal(await file.lookup('nowhere.example.com'), undefined);
    assert.equal(await new AuthFile({ path: join(dir, 'missing.json') }).lookup('quay.io'), undefined);

    await writeFile(path, '{"auths": {"x.io": {"auth": "c2VjcmV0LXBhc3N3b3Jk"}}}');
    await assert.rejects(file.lookup('x.io'), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError);
      assert.match(err.message, /auths\["x\.io"\]/);
      assert.ok(!err.message.includes('c2VjcmV0') && !err.message.includes('secret-password'));
      return true;
    });
    await writeFile(path, '{"auths": {"x.io": {"auth": "topsecret"');
    await assert.rejects(file.lookup('x.io'), (err: unknown) => err instanceof Error && /not valid JSON/.test(err.message) && !err.message.includes('topsecret'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
