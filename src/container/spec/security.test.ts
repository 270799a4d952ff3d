import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../lib/errors.ts';
import { CONTAINERD_DEFAULT_CAPABILITIES } from './inputs.ts';
import { ALL_CAPABILITIES, buildCapabilities, normalizeCapability } from './security.ts';
import { securityContext } from './testing.ts';

const caps = (add: string[], drop: string[] = [], ambient: string[] = []) =>
  securityContext({ capabilities: { add_capabilities: add, drop_capabilities: drop, add_ambient_capabilities: ambient } });

describe('normalizeCapability()', () => {
  it('normalizeCapability() accepts both spellings in any case', () => {
    assert.equal(normalizeCapability('NET_ADMIN'), 'CAP_NET_ADMIN');
    assert.equal(normalizeCapability('cap_net_admin'), 'CAP_NET_ADMIN');
    assert.throws(() => normalizeCapability('FLY'), InvalidArgumentError);
  });
});

describe('buildCapabilities()', () => {
  const defaults = CONTAINERD_DEFAULT_CAPABILITIES;
  const cases = [
    { name: 'no security context gives the 14 defaults', sc: null, wantLen: 14, has: ['CAP_NET_RAW', 'CAP_AUDIT_WRITE'], not: ['CAP_SYS_ADMIN'] },
    { name: 'add one, both spellings', sc: caps(['SYS_ADMIN', 'CAP_NET_ADMIN']), wantLen: 16, has: ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN'], not: [] },
    { name: 'drop one', sc: caps([], ['NET_RAW']), wantLen: 13, has: [], not: ['CAP_NET_RAW'] },
    { name: 'drop ALL then add one', sc: caps(['NET_BIND_SERVICE'], ['ALL']), wantLen: 1, has: ['CAP_NET_BIND_SERVICE'], not: ['CAP_CHOWN'] },
    { name: 'add ALL then drop one', sc: caps(['ALL'], ['CHOWN']), wantLen: ALL_CAPABILITIES.length - 1, has: ['CAP_SYS_ADMIN'], not: ['CAP_CHOWN'] },
    { name: 'drop ALL alone', sc: caps([], ['all']), wantLen: 0, has: [], not: ['CAP_KILL'] },
  ];
  for (const c of cases) {
    it(`buildCapabilities() ${c.name}`, () => {
      const got = buildCapabilities(c.sc, defaults);
      assert.equal(got.bounding.length, c.wantLen);
      assert.deepEqual(got.effective, got.bounding);
      assert.deepEqual(got.permitted, got.bounding);
      assert.deepEqual(got.inheritable, []);
      assert.deepEqual(got.ambient, []);
      for (const h of c.has) assert.ok(got.bounding.includes(h), `${h} missing`);
      for (const n of c.not) assert.ok(!got.bounding.includes(n), `${n} present`);
    });
  }

  it('buildCapabilities() puts ambient caps in every set they need', () => {
    const got = buildCapabilities(caps([], ['ALL'], ['NET_BIND_SERVICE']), defaults);
    assert.deepEqual(got, {
      bounding: ['CAP_NET_BIND_SERVICE'], effective: ['CAP_NET_BIND_SERVICE'], permitted: ['CAP_NET_BIND_SERVICE'],
      inheritable: ['CAP_NET_BIND_SERVICE'], ambient: ['CAP_NET_BIND_SERVICE'],
    });
    assert.throws(() => buildCapabilities(caps([], [], ['ALL']), defaults), InvalidArgumentError);
  });

  it('buildCapabilities() gives privileged containers every capability regardless of drops', () => {
    const got = buildCapabilities(securityContext({ privileged: true, capabilities: { add_capabilities: [], drop_capabilities: ['ALL'], add_ambient_capabilities: [] } }), defaults);
    assert.deepEqual(got.bounding, [...ALL_CAPABILITIES]);
    assert.deepEqual(got.ambient, []);
  });

  it('buildCapabilities() limits privileged and add ALL to the daemon\'s own bounding set (regression: EPERM from runc where root lacks CAP_SYS_RESOURCE)', () => {
    const available = ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE');
    const privileged = buildCapabilities(securityContext({ privileged: true }), defaults, available);
    assert.deepEqual(privileged.bounding, available);
    assert.deepEqual(privileged.effective, available);
    const addAll = buildCapabilities(securityContext({ capabilities: { add_capabilities: ['ALL'], drop_capabilities: ['CHOWN'], add_ambient_capabilities: [] } }), defaults, available);
    assert.ok(!addAll.bounding.includes('CAP_SYS_RESOURCE'));
    assert.ok(!addAll.bounding.includes('CAP_CHOWN'));
    assert.equal(addAll.bounding.length, available.length - 1);
  });

  it('buildCapabilities() honours a configured default set', () => {
    assert.deepEqual(buildCapabilities(null, ['kill', 'CAP_CHOWN']).bounding, ['CAP_CHOWN', 'CAP_KILL']);
  });
});
