import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../lib/errors.ts';
import { securityContext } from './testing.ts';
import { parseGroup, parsePasswd, resolveUser, userString } from './user.ts';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'daemon:x:1:1::/:/sbin/nologin',
  'app:x:1000:1000::/home/app:/bin/sh',
  '# comment',
  'broken:x:notanumber:1::/:/bin/sh',
].join('\n');
const GROUP = [
  'root:x:0:',
  'daemon:x:1:',
  'app:x:1000:',
  'wheel:x:10:root,app',
  'audio:x:29:app',
  'video:x:44:daemon',
].join('\n');

const uid = (v: string) => ({ value: v });

describe('userString()', () => {
  const cases = [
    { name: 'username wins over uid', sc: securityContext({ run_as_username: 'app', run_as_user: uid('5') }), image: 'x', want: 'app' },
    { name: 'uid 0 is a real request', sc: securityContext({ run_as_user: uid('0') }), image: 'app', want: '0' },
    { name: 'uid with group', sc: securityContext({ run_as_user: uid('1000'), run_as_group: uid('29') }), image: '', want: '1000:29' },
    { name: 'image user when CRI has none', sc: securityContext(), image: 'app:audio', want: 'app:audio' },
    { name: 'nothing at all', sc: null, image: undefined, want: '' },
  ];
  for (const c of cases) {
    it(`userString() ${c.name}`, () => {
      assert.equal(userString(c.sc, c.image), c.want);
    });
  }
  it('userString() refuses run_as_group without a user', () => {
    assert.throws(() => userString(securityContext({ run_as_group: uid('10') }), 'app'), InvalidArgumentError);
  });
});

describe('parsePasswd() and parseGroup()', () => {
  it('parsePasswd() skips comments and malformed lines', () => {
    assert.deepEqual(parsePasswd(PASSWD).map((p) => p.name), ['root', 'daemon', 'app']);
    assert.deepEqual(parsePasswd(undefined), []);
  });
  it('parseGroup() reads member lists', () => {
    assert.deepEqual(parseGroup(GROUP).find((g) => g.name === 'wheel'), { name: 'wheel', gid: 10, members: ['root', 'app'] });
  });
});

describe('resolveUser()', () => {
  const cases = [
    { name: 'default is root with its groups', sc: null, image: undefined, want: { uid: 0, gid: 0, additionalGids: [0, 10] } },
    { name: 'uid 0 explicitly over an image user', sc: securityContext({ run_as_user: uid('0') }), image: 'app', want: { uid: 0, gid: 0, additionalGids: [0, 10] } },
    { name: 'image user by name gets passwd gid and memberships', sc: null, image: 'app', want: { uid: 1000, gid: 1000, additionalGids: [10, 29, 1000] } },
    { name: 'numeric uid found in passwd', sc: securityContext({ run_as_user: uid('1000') }), image: undefined, want: { uid: 1000, gid: 1000, additionalGids: [10, 29, 1000] } },
    { name: 'unknown numeric uid runs with gid 0', sc: securityContext({ run_as_user: uid('4242') }), image: undefined, want: { uid: 4242, gid: 0, additionalGids: [0] } },
    { name: 'uid:gid numeric', sc: null, image: '1000:44', want: { uid: 1000, gid: 44, additionalGids: [10, 29, 44] } },
    { name: 'name:group', sc: null, image: 'app:audio', want: { uid: 1000, gid: 29, additionalGids: [10, 29] } },
    { name: 'run_as_group overrides passwd gid', sc: securityContext({ run_as_user: uid('1000'), run_as_group: uid('3000') }), image: undefined, want: { uid: 1000, gid: 3000, additionalGids: [10, 29, 3000] } },
    {
      name: 'Merge adds supplemental_groups to memberships',
      sc: securityContext({ run_as_user: uid('1000'), run_as_group: uid('3000'), supplemental_groups: ['4000', '29'] }),
      image: undefined,
      want: { uid: 1000, gid: 3000, additionalGids: [10, 29, 3000, 4000] },
    },
    {
      name: 'Strict keeps only supplemental_groups and the primary gid',
      sc: securityContext({ run_as_user: uid('1000'), run_as_group: uid('3000'), supplemental_groups: ['4000'], supplemental_groups_policy: 1 }),
      image: undefined,
      want: { uid: 1000, gid: 3000, additionalGids: [3000, 4000] },
    },
    { name: 'run_as_username resolves', sc: securityContext({ run_as_username: 'daemon' }), image: 'app', want: { uid: 1, gid: 1, additionalGids: [1, 44] } },
  ];
  for (const c of cases) {
    it(`resolveUser() ${c.name}`, () => {
      assert.deepEqual(resolveUser(c.sc, c.image, PASSWD, GROUP), c.want);
    });
  }

  it('resolveUser() names a missing username', () => {
    assert.throws(() => resolveUser(securityContext({ run_as_username: 'ghost' }), undefined, PASSWD, GROUP), (err: unknown) =>
      err instanceof InvalidArgumentError && err.message.includes('"ghost"'));
    assert.throws(() => resolveUser(null, 'app', undefined, undefined), /"app" not found/);
  });

  it('resolveUser() names a missing group', () => {
    assert.throws(() => resolveUser(null, 'app:nogroup', PASSWD, GROUP), /group "nogroup" not found/);
  });

  it('resolveUser() refuses malformed and out-of-range ids', () => {
    assert.throws(() => resolveUser(null, 'a:b:c', PASSWD, GROUP), InvalidArgumentError);
    assert.throws(() => resolveUser(null, '4294967296', PASSWD, GROUP), /out of range/);
    assert.throws(() => resolveUser(securityContext({ run_as_user: uid('1'), supplemental_groups: ['-1'] }), undefined, PASSWD, GROUP), InvalidArgumentError);
  });

  it('resolveUser() works without /etc/group', () => {
    assert.deepEqual(resolveUser(null, 'app', PASSWD, undefined), { uid: 1000, gid: 1000, additionalGids: [1000] });
  });
});
