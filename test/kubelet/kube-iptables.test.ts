import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitRuleArgs } from './helpers/kube-iptables.ts';

test('splitRuleArgs() keeps a quoted comment as one argument', () => {
  assert.deepEqual(
    splitRuleArgs('-A INPUT -m comment --comment "kubernetes health check \\"rules\\"" -j KUBE-FIREWALL'),
    ['-A', 'INPUT', '-m', 'comment', '--comment', 'kubernetes health check "rules"', '-j', 'KUBE-FIREWALL'],
  );
});
