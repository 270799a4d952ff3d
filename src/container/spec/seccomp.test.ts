import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../lib/errors.ts';
import { chooseSeccomp, seccompLocalhostPath, toOciSeccomp } from './seccomp.ts';
import { TEST_SECCOMP_PROFILE, securityContext } from './testing.ts';

const profile = (type: 0 | 1 | 2, ref = '') => ({ profile_type: type, localhost_ref: ref });

describe('chooseSeccomp()', () => {
  const cases = [
    { name: 'absent message means unconfined', sc: securityContext(), want: { kind: 'unconfined' } },
    { name: 'no security context means unconfined', sc: null, want: { kind: 'unconfined' } },
    { name: 'present but empty message means RuntimeDefault', sc: securityContext({ seccomp: profile(0) }), want: { kind: 'runtime-default' } },
    { name: 'Unconfined', sc: securityContext({ seccomp: profile(1) }), want: { kind: 'unconfined' } },
    { name: 'Localhost absolute path', sc: securityContext({ seccomp: profile(2, '/var/lib/kubelet/seccomp/a.json') }), want: { kind: 'localhost', path: '/var/lib/kubelet/seccomp/a.json' } },
    { name: 'privileged ignores the profile', sc: securityContext({ seccomp: profile(0), privileged: true }), want: { kind: 'unconfined' } },
    { name: 'deprecated runtime/default', sc: securityContext({ seccomp_profile_path: 'runtime/default' }), want: { kind: 'runtime-default' } },
    { name: 'deprecated docker/default', sc: securityContext({ seccomp_profile_path: 'docker/default' }), want: { kind: 'runtime-default' } },
    { name: 'deprecated unconfined', sc: securityContext({ seccomp_profile_path: 'unconfined' }), want: { kind: 'unconfined' } },
    { name: 'deprecated localhost/<abs>', sc: securityContext({ seccomp_profile_path: 'localhost//p/x.json' }), want: { kind: 'localhost', path: '/p/x.json' } },
    { name: 'message wins over the deprecated path', sc: securityContext({ seccomp: profile(1), seccomp_profile_path: 'runtime/default' }), want: { kind: 'unconfined' } },
  ];
  for (const c of cases) {
    it(`chooseSeccomp() ${c.name}`, () => {
      assert.deepEqual(chooseSeccomp(c.sc), c.want);
    });
  }

  const bad = [
    { name: 'Localhost with an empty ref', sc: securityContext({ seccomp: profile(2) }) },
    { name: 'Localhost with a relative ref', sc: securityContext({ seccomp: profile(2, 'profiles/a.json') }) },
    { name: 'a ref without Localhost', sc: securityContext({ seccomp: profile(0, '/a.json') }) },
    { name: 'an unknown deprecated string', sc: securityContext({ seccomp_profile_path: 'strict' }) },
  ];
  for (const c of bad) {
    it(`chooseSeccomp() refuses ${c.name}`, () => {
      assert.throws(() => chooseSeccomp(c.sc), InvalidArgumentError);
    });
  }

  it('seccompLocalhostPath() tells the caller which file to read', () => {
    assert.equal(seccompLocalhostPath(securityContext({ seccomp: profile(2, '/p.json') })), '/p.json');
    assert.equal(seccompLocalhostPath(securityContext({ seccomp: profile(0) })), undefined);
  });
});

describe('toOciSeccomp()', () => {
  it('toOciSeccomp() picks the native arch and filters rules by capability', () => {
    const got = toOciSeccomp(TEST_SECCOMP_PROFILE, 'x64', ['CAP_CHOWN'], 'test');
    assert.deepEqual(got, {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 38,
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }],
    });
    const admin = toOciSeccomp(TEST_SECCOMP_PROFILE, 'arm64', ['CAP_SYS_ADMIN'], 'test');
    assert.deepEqual(admin.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    assert.deepEqual(admin.syscalls?.map((s) => s.names[0]), ['read', 'mount']);
  });

  it('toOciSeccomp() honours arch includes/excludes (Go or SCMP names), capability excludes and errnoRet/args', () => {
    const source = {
      defaultAction: 'SCMP_ACT_ERRNO',
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [
        { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32'] } },
        { names: ['only_arm'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm', 'arm64'] } },
        { names: ['not_x86'], action: 'SCMP_ACT_ALLOW', excludes: { arches: ['SCMP_ARCH_X86_64'] } },
        { names: ['unshare'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, excludes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
      ],
    };
    const got = toOciSeccomp(source, 'x64', [], 'test');
    assert.deepEqual(got.architectures, ['SCMP_ARCH_X86_64']);
    assert.deepEqual(got.syscalls, [
      { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW' },
      { names: ['unshare'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
      { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, valueTwo: 0, op: 'SCMP_CMP_EQ' }] },
    ]);
    assert.deepEqual(toOciSeccomp(source, 'x64', ['CAP_SYS_ADMIN'], 'test').syscalls?.map((s) => s.names[0]), ['arch_prctl', 'personality']);
  });

  it('toOciSeccomp() refuses something that is not a profile', () => {
    assert.throws(() => toOciSeccomp({ syscalls: [] }, 'x64', [], '"/p.json"'), /"\/p.json" is not a seccomp profile/);
    assert.throws(() => toOciSeccomp(null, 'x64', [], 'x'), InvalidArgumentError);
    assert.throws(() => toOciSeccomp(TEST_SECCOMP_PROFILE, 'sparc', [], 'x'), InvalidArgumentError);
  });
});
