import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SecurityProfile__Output } from '../../generated/cri/runtime/v1/SecurityProfile.ts';
import { FailedPreconditionError, InvalidArgumentError } from '../../lib/errors.ts';
import { chooseApparmorProfile, type AppArmorHost } from './apparmor.ts';
import { buildSpec } from './build.ts';
import { securityContext, specInputs } from './testing.ts';

const DEFAULT = 'critter-default';
const RUNTIME_DEFAULT = 0;
const UNCONFINED = 1;
const LOCALHOST = 2;
/** profile_type as decoded; 7 is a value no client should send. */
const profile = (type: number, ref = ''): SecurityProfile__Output => ({ profile_type: type as SecurityProfile__Output['profile_type'], localhost_ref: ref });
/** A host with AppArmor and these profiles loaded. */
const enabled = (...names: string[]): AppArmorHost => ({ apparmorEnabled: true, apparmorProfiles: new Set([DEFAULT, ...names]) });
const disabled: AppArmorHost = { apparmorEnabled: false };

/** The kubelet sends the field and the deprecated string alike; each case is tried both ways where the string can say it. */
interface Case { name: string; field: ReturnType<typeof profile> | null; legacy: string; privileged?: boolean; want: string | undefined }

const onAppArmorHost: Case[] = [
  { name: 'an unset profile means the default profile', field: null, legacy: '', want: DEFAULT },
  { name: 'RuntimeDefault means the default profile', field: profile(RUNTIME_DEFAULT), legacy: 'runtime/default', want: DEFAULT },
  { name: 'an unset profile of a privileged container means none', field: null, legacy: '', privileged: true, want: undefined },
  { name: 'RuntimeDefault of a privileged container means none', field: profile(RUNTIME_DEFAULT), legacy: 'runtime/default', privileged: true, want: undefined },
  { name: 'Unconfined means none', field: profile(UNCONFINED), legacy: 'unconfined', want: undefined },
  { name: 'Localhost is the named profile', field: profile(LOCALHOST, 'k8s-nginx'), legacy: 'localhost/k8s-nginx', want: 'k8s-nginx' },
  { name: 'Localhost tolerates a localhost/ prefix in the ref', field: profile(LOCALHOST, 'localhost/k8s-nginx'), legacy: 'localhost/k8s-nginx', want: 'k8s-nginx' },
  { name: 'Localhost applies to a privileged container too', field: profile(LOCALHOST, 'k8s-nginx'), legacy: 'localhost/k8s-nginx', privileged: true, want: 'k8s-nginx' },
];

describe('chooseApparmorProfile()', () => {
  for (const c of onAppArmorHost) {
    it(`chooseApparmorProfile() on an AppArmor host: ${c.name} (apparmor field)`, () => {
      const sc = securityContext({ apparmor: c.field, privileged: c.privileged ?? false });
      assert.equal(chooseApparmorProfile(sc, enabled('k8s-nginx'), DEFAULT), c.want);
    });
    it(`chooseApparmorProfile() on an AppArmor host: ${c.name} (deprecated apparmor_profile)`, () => {
      const sc = securityContext({ apparmor_profile: c.legacy, privileged: c.privileged ?? false });
      assert.equal(chooseApparmorProfile(sc, enabled('k8s-nginx'), DEFAULT), c.want);
    });
  }

  it('chooseApparmorProfile() prefers the apparmor field over the deprecated string, as containerd does', () => {
    const sc = securityContext({ apparmor: profile(UNCONFINED), apparmor_profile: 'localhost/k8s-nginx' });
    assert.equal(chooseApparmorProfile(sc, enabled('k8s-nginx'), DEFAULT), undefined);
  });

  it('chooseApparmorProfile() of a null security context means the default profile', () => {
    assert.equal(chooseApparmorProfile(null, enabled(), DEFAULT), DEFAULT);
  });

  it('chooseApparmorProfile() applies a configured default and none for "unconfined" or no default', () => {
    assert.equal(chooseApparmorProfile(null, enabled('site-default'), 'site-default'), 'site-default');
    assert.equal(chooseApparmorProfile(null, enabled(), 'unconfined'), undefined);
    assert.equal(chooseApparmorProfile(null, enabled(), undefined), undefined);
  });

  it('chooseApparmorProfile() refuses a Localhost profile that is not loaded, naming it', () => {
    for (const sc of [securityContext({ apparmor: profile(LOCALHOST, 'nope') }), securityContext({ apparmor_profile: 'localhost/nope' })]) {
      assert.throws(() => chooseApparmorProfile(sc, enabled(), DEFAULT), (err: Error) => {
        assert.ok(err instanceof FailedPreconditionError);
        assert.match(err.message, /AppArmor profile "nope" is not loaded on this host/);
        return true;
      });
    }
  });

  it('chooseApparmorProfile() refuses to run unconfined when the default profile is not loaded', () => {
    const host: AppArmorHost = { apparmorEnabled: true, apparmorProfiles: new Set() };
    assert.throws(() => chooseApparmorProfile(null, host, DEFAULT), (err: Error) => err instanceof FailedPreconditionError && /default AppArmor profile "critter-default" is not loaded/.test(err.message));
    // Privileged and Unconfined containers need no profile, so they still start.
    assert.equal(chooseApparmorProfile(securityContext({ privileged: true }), host, DEFAULT), undefined);
    assert.equal(chooseApparmorProfile(securityContext({ apparmor: profile(UNCONFINED) }), host, DEFAULT), undefined);
  });

  it('chooseApparmorProfile() without AppArmor on the host: unset, RuntimeDefault and Unconfined mean none', () => {
    for (const sc of [null, securityContext(), securityContext({ apparmor: profile(RUNTIME_DEFAULT) }), securityContext({ apparmor_profile: 'runtime/default' }),
      securityContext({ apparmor: profile(UNCONFINED) }), securityContext({ apparmor_profile: 'unconfined' })]) {
      assert.equal(chooseApparmorProfile(sc, disabled, DEFAULT), undefined);
    }
  });

  it('chooseApparmorProfile() without AppArmor on the host refuses an explicit Localhost profile, naming it', () => {
    for (const sc of [securityContext({ apparmor: profile(LOCALHOST, 'k8s-nginx') }), securityContext({ apparmor_profile: 'localhost/k8s-nginx' })]) {
      assert.throws(() => chooseApparmorProfile(sc, disabled, DEFAULT), (err: Error) => {
        assert.ok(err instanceof FailedPreconditionError);
        assert.equal(err.message, 'AppArmor is not enabled on this host; cannot apply profile "k8s-nginx"');
        return true;
      });
    }
  });

  it('chooseApparmorProfile() refuses malformed requests with INVALID_ARGUMENT on any host', () => {
    const bad = [
      securityContext({ apparmor: profile(RUNTIME_DEFAULT, 'x') }),
      securityContext({ apparmor: profile(UNCONFINED, 'x') }),
      securityContext({ apparmor: profile(LOCALHOST) }),
      securityContext({ apparmor: profile(LOCALHOST, 'localhost/') }),
      securityContext({ apparmor: profile(7) }),
      securityContext({ apparmor: profile(LOCALHOST, 'a\nb') }),
      securityContext({ apparmor: profile(LOCALHOST, 'a\u0000b') }),
      securityContext({ apparmor: profile(LOCALHOST, 'with space') }),
      securityContext({ apparmor_profile: 'bogus' }),
      securityContext({ apparmor_profile: 'localhost/' }),
    ];
    for (const sc of bad) {
      for (const host of [enabled(), disabled]) assert.throws(() => chooseApparmorProfile(sc, host, DEFAULT), InvalidArgumentError);
    }
  });

  it('chooseApparmorProfile() bounds a huge profile name in its message', () => {
    const sc = securityContext({ apparmor_profile: `localhost/${'p'.repeat(100_000)}` });
    assert.throws(() => chooseApparmorProfile(sc, enabled(), DEFAULT), (err: Error) => err.message.length < 400 && err.message.includes('(100000 characters)'));
  });

  it('chooseApparmorProfile() does not check loaded profiles the caller did not read', () => {
    const sc = securityContext({ apparmor: profile(LOCALHOST, 'k8s-nginx') });
    assert.equal(chooseApparmorProfile(sc, { apparmorEnabled: true }, DEFAULT), 'k8s-nginx');
  });
});

describe('buildSpec() AppArmor', () => {
  const withSc = (sc: ReturnType<typeof securityContext> | null, host: AppArmorHost) => {
    const inputs = specInputs();
    if (sc !== null) inputs.config.linux!.security_context = { ...inputs.config.linux!.security_context!, ...sc, namespace_options: inputs.config.linux!.security_context!.namespace_options };
    inputs.host = { ...inputs.host, ...host };
    inputs.defaults = { ...inputs.defaults, apparmorDefaultProfile: DEFAULT };
    return buildSpec(inputs).spec;
  };

  it('buildSpec() puts the default profile in process.apparmorProfile on an AppArmor host', () => {
    assert.equal(withSc(null, enabled()).process.apparmorProfile, DEFAULT);
  });

  it('buildSpec() sets no apparmorProfile without AppArmor on the host', () => {
    const spec = withSc(null, disabled);
    assert.equal(spec.process.apparmorProfile, undefined);
    assert.ok(!('apparmorProfile' in spec.process));
  });

  it('buildSpec() puts a loaded Localhost profile in the spec', () => {
    assert.equal(withSc(securityContext({ apparmor: profile(LOCALHOST, 'k8s-nginx'), apparmor_profile: 'localhost/k8s-nginx' }), enabled('k8s-nginx')).process.apparmorProfile, 'k8s-nginx');
  });
});
