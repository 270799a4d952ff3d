import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shown } from '../lib/shown.ts';
import { InvalidArgumentError } from '../lib/errors.ts';
import {
  formatDigested,
  formatReference,
  formatTagged,
  isShortName,
  parseNormalisedReference,
  parseReference,
  repositoryName,
  validateDigest,
} from './reference.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;

test('parseNormalisedReference() applies Docker defaults', () => {
  const cases: [string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['foo/bar', 'docker.io/foo/bar:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest'],
    ['registry.k8s.io/pause:3.10', 'registry.k8s.io/pause:3.10'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/a/b/c:v1', 'localhost:5000/a/b/c:v1'],
    ['127.0.0.1:5000/app', '127.0.0.1:5000/app:latest'],
    ['[::1]:5000/app:v2', '[::1]:5000/app:v2'],
    [`busybox@${DIGEST}`, `docker.io/library/busybox@${DIGEST}`],
    [`quay.io/a/b:t@${DIGEST}`, `quay.io/a/b:t@${DIGEST}`],
    ['a__b/c-d--e.f_g', 'docker.io/a__b/c-d--e.f_g:latest'],
  ];
  for (const [input, want] of cases) assert.equal(formatReference(parseNormalisedReference(input)), want, input);
});

test('parseReference() keeps short names without a domain', () => {
  const ref = parseReference('foo/bar:1');
  assert.equal(ref.domain, undefined);
  assert.equal(ref.path, 'foo/bar');
  assert.equal(ref.tag, '1');
  assert.ok(isShortName(ref));
  assert.ok(!isShortName(parseReference('example.com/foo')));
  assert.ok(!isShortName(parseReference('localhost/foo')));
});

test('parseReference() refuses malformed references quoting them', () => {
  const bad = [
    '',
    'Busybox',
    'docker.io/Library/busybox',
    'busybox:',
    'busybox:-bad',
    'busybox@sha256:abc',
    `busybox@sha256:${'A'.repeat(64)}`,
    `busybox@md5:${'a'.repeat(32)}`,
    'a/',
    '/a',
    'a//b',
    'a_-b',
    '-a',
    'exa mple.com/a',
    'example.com:port/a',
    'a'.repeat(64),
    `example.com/${'a'.repeat(260)}`,
    // issue 12: not a URL, not lowercase, a space, a huge reference.
    'host:99999/x',
    'host:0/x',
    'UPPER/x',
    'a b',
    'x'.repeat(10 * 1024),
  ];
  for (const input of bad) {
    assert.throws(() => parseReference(input), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError, input);
      assert.ok(err.message.includes(shown(input)), err.message);
      assert.ok(err.message.length < 600, `message of ${err.message.length} chars`);
      return true;
    });
  }
});

test('validateDigest() accepts sha256 and sha512 only with the right length', () => {
  assert.equal(validateDigest(DIGEST), DIGEST);
  validateDigest(`sha512:${'b'.repeat(128)}`);
  assert.throws(() => validateDigest(`sha512:${'b'.repeat(64)}`), InvalidArgumentError);
  assert.throws(() => validateDigest('sha256'), /invalid digest "sha256"/);
});

test('formatTagged() and formatDigested() build RepoTags and RepoDigests', () => {
  const ref = parseNormalisedReference('busybox');
  assert.equal(formatTagged(repositoryName(ref), 'v1'), 'docker.io/library/busybox:v1');
  assert.equal(formatDigested(repositoryName(ref), DIGEST), `docker.io/library/busybox@${DIGEST}`);
});
