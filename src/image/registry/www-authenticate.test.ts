import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWwwAuthenticate } from './www-authenticate.ts';

test('parseWwwAuthenticate() reads Bearer params, quoted commas and several challenges', () => {
  assert.deepEqual(parseWwwAuthenticate('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.example.com/token', service: 'registry.example.com', scope: 'repository:a/b:pull,push' } },
  ]);
  assert.deepEqual(parseWwwAuthenticate(['Basic realm="x \\"y\\""', 'Bearer realm=plain']), [
    { scheme: 'basic', params: { realm: 'x "y"' } },
    { scheme: 'bearer', params: { realm: 'plain' } },
  ]);
  assert.deepEqual(parseWwwAuthenticate(undefined), []);
});
