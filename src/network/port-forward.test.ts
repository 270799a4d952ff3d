import { test } from 'node:test';
import assert from 'node:assert/strict';
import { socatReason } from './port-forward.ts';

test('socatReason() reduces socat error lines to the reason', () => {
  assert.equal(socatReason('2026/01/01 00:00:00 socat[12] E connect(5, AF=2 127.0.0.1:81, 16): Connection refused\n'), 'connection refused');
  assert.equal(socatReason('socat[9] E connect(5, AF=2 127.0.0.1:81, 16): No route to host'), 'no route to host');
  assert.equal(socatReason("nsenter: cannot open /run/netns/x: No such file or directory\n"), "nsenter: cannot open /run/netns/x: No such file or directory");
  assert.equal(socatReason(''), 'the connection failed');
});
