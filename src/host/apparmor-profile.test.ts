import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '../lib/errors.ts';
import { cleanProfileName, hostProfileParams, renderProfile, PROFILE_TEMPLATE_PATH, type ProfileParams } from './apparmor-profile.ts';
import { isValidProfileName } from '../lib/apparmor-name.ts';

const params = (over: Partial<ProfileParams> = {}): ProfileParams => ({
  name: 'critter-default', daemonProfile: 'unconfined', hasAbi3: false, hasTunables: false, hasBaseAbstraction: false, ...over,
});

let template: string;
let work: string;
before(async () => {
  template = await readFile(PROFILE_TEMPLATE_PATH, 'utf8');
  work = await mkdtemp(join(tmpdir(), 'critter-apparmor-profile-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('renderProfile()', () => {
  it('renderProfile() fills every placeholder of the shipped template', () => {
    const out = renderProfile(template, params());
    assert.doesNotMatch(out, /\{\{|\}\}/);
    assert.match(out, /^profile critter-default flags=\(attach_disconnected,mediate_deleted\) \{$/m);
    assert.match(out, /^ {2}signal \(send,receive\) peer=critter-default,$/m);
    assert.match(out, /^ {2}ptrace \(trace,read,tracedby,readby\) peer=critter-default,$/m);
    assert.match(out, /^ {2}deny mount,$/m);
    assert.match(out, /^ {2}deny \/sys\/kernel\/security\/\*\* rwklx,$/m);
  });

  it('renderProfile() uses the host\'s includes and ABI only where they exist', () => {
    const bare = renderProfile(template, params());
    assert.match(bare, /^@\{PROC\}=\/proc\/$/m);
    assert.doesNotMatch(bare, /^(abi|#include)/m);
    const full = renderProfile(template, params({ hasAbi3: true, hasTunables: true, hasBaseAbstraction: true }));
    assert.match(full, /^abi <abi\/3\.0>,$/m);
    assert.match(full, /^#include <tunables\/global>$/m);
    assert.match(full, /^ {2}#include <abstractions\/base>$/m);
    assert.doesNotMatch(full, /^@\{PROC\}=/m);
  });

  it('renderProfile() lets the daemon\'s own profile signal containers', () => {
    assert.match(renderProfile(template, params({ daemonProfile: 'critter-daemon' })), /^ {2}signal \(receive\) peer=critter-daemon,$/m);
  });

  it('renderProfile() refuses a name that would break the profile language', () => {
    for (const name of ['', 'a b', 'a"b', 'a\nb', 'a,b', '{x}', 'x'.repeat(300)]) {
      assert.throws(() => renderProfile(template, params({ name })), InvalidArgumentError, JSON.stringify(name));
    }
  });

  it('renderProfile() refuses a template with an unknown placeholder', () => {
    assert.throws(() => renderProfile('profile {{name}} { {{nope}} }', params()), /unknown placeholder \{\{nope\}\}/);
  });
});

describe('isValidProfileName()', () => {
  it('isValidProfileName() accepts distribution-style names and refuses spaces, quotes and control characters', () => {
    for (const ok of ['critter-default', 'k8s-apparmor-example-deny-write', '/usr/bin/man', 'snap.lxd.daemon', 'foo//bar', 'cri-containerd.apparmor.d']) assert.ok(isValidProfileName(ok), ok);
    for (const bad of ['', ' x', 'x y', 'x\u0000', 'x\n', '"x"', '-x', '.x']) assert.ok(!isValidProfileName(bad), JSON.stringify(bad));
  });
});

describe('cleanProfileName()', () => {
  it('cleanProfileName() strips the mode and defaults to unconfined', () => {
    assert.equal(cleanProfileName('critter-daemon (enforce)\n'), 'critter-daemon');
    assert.equal(cleanProfileName('unconfined\n'), 'unconfined');
    assert.equal(cleanProfileName(''), 'unconfined');
  });
});

describe('hostProfileParams()', () => {
  it('hostProfileParams() looks for the includes under the policy dir and reads the daemon\'s profile', async () => {
    const policy = join(work, 'apparmor.d');
    await mkdir(join(policy, 'abi'), { recursive: true });
    await mkdir(join(policy, 'tunables'));
    await writeFile(join(policy, 'abi', '3.0'), '');
    await writeFile(join(policy, 'tunables', 'global'), '');
    const current = join(work, 'current');
    await writeFile(current, 'docker-default (enforce)\n');
    assert.deepEqual(await hostProfileParams('p', policy, current), {
      name: 'p', daemonProfile: 'docker-default', hasAbi3: true, hasTunables: true, hasBaseAbstraction: false,
    });
    assert.equal((await hostProfileParams('p', policy, join(work, 'absent'))).daemonProfile, 'unconfined');
  });
});
