import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../lib/errors.ts';
import { ANNOTATION_CONTAINER_TYPE, ANNOTATION_SANDBOX_ID } from './annotations.ts';
import { buildSpec } from './build.ts';
import { containerConfig, mount, resources, sandboxConfig, specInputs, withSecurity } from './testing.ts';

const KUBELET_MASKED = ['/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'];
const KUBELET_READONLY = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

describe('buildSpec()', () => {
  it('buildSpec() builds a complete spec for a plain container', () => {
    const { spec, user } = buildSpec(specInputs());
    assert.equal(spec.ociVersion, '1.0.2');
    assert.deepEqual(spec.process.args, ['sh']);
    assert.deepEqual(spec.process.env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=pod']);
    assert.equal(spec.process.cwd, '/');
    assert.equal(spec.process.terminal, false);
    assert.equal(spec.process.noNewPrivileges, false);
    assert.equal(spec.process.oomScoreAdj, 0);
    assert.equal(spec.process.apparmorProfile, undefined);
    assert.deepEqual(spec.process.user, { uid: 0, gid: 0, additionalGids: [0] });
    assert.deepEqual(user, { uid: 0, gid: 0, additionalGids: [0] });
    assert.equal(spec.process.capabilities.bounding.length, 14);
    assert.deepEqual(spec.root, { path: '/var/lib/critter/containers/c0ffee/rootfs', readonly: false });
    assert.equal(spec.linux.cgroupsPath, '/kubepods/besteffort/poduid-1/crt-c0ffee');
    assert.equal(spec.linux.seccomp, undefined, 'an absent seccomp message is unconfined');
    assert.equal(spec.linux.rootfsPropagation, undefined);
    assert.deepEqual(spec.linux.maskedPaths, []);
    assert.deepEqual(spec.linux.resources.devices, [{ allow: false, access: 'rwm' }]);
    assert.equal(spec.annotations[ANNOTATION_CONTAINER_TYPE], 'container');
    assert.equal(spec.annotations[ANNOTATION_SANDBOX_ID], 'pod123');
    const dests = spec.mounts.map((m) => m.destination);
    for (const d of ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup', '/etc/hosts', '/etc/resolv.conf', '/etc/hostname']) {
      assert.equal(dests.filter((x) => x === d).length, 1, d);
    }
    assert.equal(spec.mounts.find((m) => m.destination === '/dev/shm')?.type, 'bind');
    assert.deepEqual(JSON.parse(JSON.stringify(spec)), spec, 'the spec is plain JSON');
  });

  it('buildSpec() passes masked and read-only paths exactly as sent', () => {
    const { spec } = buildSpec(specInputs({ config: withSecurity({ masked_paths: KUBELET_MASKED, readonly_paths: KUBELET_READONLY }) }));
    assert.deepEqual(spec.linux.maskedPaths, KUBELET_MASKED);
    assert.deepEqual(spec.linux.readonlyPaths, KUBELET_READONLY);
    const unmasked = buildSpec(specInputs({ config: withSecurity({ masked_paths: [], readonly_paths: [] }) })).spec;
    assert.deepEqual([unmasked.linux.maskedPaths, unmasked.linux.readonlyPaths], [[], []]);
  });

  it('buildSpec() makes a privileged container fully privileged', () => {
    const dev = { path: '/dev/sda', type: 'b' as const, major: 8, minor: 0, fileMode: 0o660, uid: 0, gid: 6 };
    const base = specInputs();
    const { spec } = buildSpec({
      ...base,
      config: withSecurity({ privileged: true, masked_paths: KUBELET_MASKED, readonly_paths: KUBELET_READONLY, seccomp: { profile_type: 0, localhost_ref: '' } }),
      sandboxConfig: sandboxConfig(true),
      host: { ...base.host, hostDevices: [dev], cgroupVersion: 2 },
    });
    assert.ok(spec.process.capabilities.bounding.includes('CAP_SYS_ADMIN'));
    assert.equal(spec.linux.seccomp, undefined);
    assert.deepEqual([spec.linux.maskedPaths, spec.linux.readonlyPaths], [[], []]);
    assert.deepEqual(spec.mounts.find((m) => m.destination === '/sys')?.options.at(-1), 'rw');
    assert.deepEqual(spec.linux.devices.map((d) => d.path), ['/dev/sda']);
    assert.deepEqual(spec.linux.resources.devices.at(-1), { allow: true, access: 'rwm' });
    assert.ok(!spec.linux.namespaces.some((n) => n.type === 'cgroup'));
  });

  it('buildSpec() refuses a privileged container in an unprivileged pod', () => {
    assert.throws(() => buildSpec(specInputs({ config: withSecurity({ privileged: true }) })), /privileged but its pod sandbox is not/);
  });

  it('buildSpec() applies RuntimeDefault seccomp with the container\'s capabilities', () => {
    const seccomp = { profile_type: 0 as const, localhost_ref: '' };
    const plain = buildSpec(specInputs({ config: withSecurity({ seccomp }) })).spec.linux.seccomp;
    assert.deepEqual(plain?.syscalls?.map((s) => s.names[0]), ['read']);
    const admin = buildSpec(specInputs({ config: withSecurity({ seccomp, capabilities: { add_capabilities: ['SYS_ADMIN'], drop_capabilities: [], add_ambient_capabilities: [] } }) })).spec.linux.seccomp;
    assert.deepEqual(admin?.syscalls?.map((s) => s.names[0]), ['read', 'mount']);
  });

  it('buildSpec() uses the Localhost seccomp profile the caller loaded', () => {
    const config = withSecurity({ seccomp: { profile_type: 2, localhost_ref: '/var/lib/kubelet/seccomp/audit.json' } });
    assert.throws(() => buildSpec(specInputs({ config })), (err: unknown) => err instanceof InvalidArgumentError && err.message.includes('audit.json'));
    const { spec } = buildSpec(specInputs({ config, localhostSeccompProfile: { defaultAction: 'SCMP_ACT_LOG' } }));
    assert.deepEqual(spec.linux.seccomp, { defaultAction: 'SCMP_ACT_LOG', syscalls: [] });
  });

  it('buildSpec() clamps oom_score_adj to the host floor', () => {
    const config = containerConfig({ linux: { resources: resources({ oom_score_adj: '-997' }), security_context: null } });
    const defaults = specInputs({ config });
    // No security context means every namespace mode is POD, so the pod has an infra process.
    const base = { ...defaults, pod: { ...defaults.pod, infraPid: 9 } };
    assert.equal(buildSpec(base).spec.process.oomScoreAdj, 0);
    assert.equal(buildSpec({ ...base, host: { ...base.host, minOomScoreAdj: -1000 } }).spec.process.oomScoreAdj, -997);
  });

  it('buildSpec() reports the effective user with Merge and Strict groups', () => {
    const files = { etcPasswd: 'app:x:1000:1000::/:/bin/sh\n', etcGroup: 'app:x:1000:\nextra:x:50:app\n' };
    const merge = buildSpec(specInputs({ ...files, config: withSecurity({ run_as_user: { value: '1000' }, supplemental_groups: ['7'] }) }));
    assert.deepEqual(merge.user, { uid: 1000, gid: 1000, additionalGids: [7, 50, 1000] });
    assert.deepEqual(merge.spec.process.user, merge.user);
    const strict = buildSpec(specInputs({ ...files, config: withSecurity({ run_as_user: { value: '1000' }, supplemental_groups: ['7'], supplemental_groups_policy: 1 }) }));
    assert.deepEqual(strict.user, { uid: 1000, gid: 1000, additionalGids: [7, 1000] });
  });

  it('buildSpec() sets rootfs propagation for a bidirectional mount on a shared host mount', () => {
    const base = specInputs({ config: containerConfig({ mounts: [mount({ container_path: '/shared', host_path: '/mnt/shared', propagation: 2 })] }) });
    assert.throws(() => buildSpec(base), /must be shared/);
    const { spec } = buildSpec({ ...base, host: { ...base.host, hostMountPropagation: (p) => (p === '/mnt/shared' ? 'shared' : 'private') } });
    assert.equal(spec.linux.rootfsPropagation, 'rshared');
    assert.deepEqual(spec.mounts.find((m) => m.destination === '/shared')?.options, ['rbind', 'rshared', 'rw']);
  });

  it('buildSpec() honours tty, working dir, command, readonly rootfs and no_new_privs', () => {
    const config = withSecurity(
      { readonly_rootfs: true, no_new_privs: true },
      { tty: true, working_dir: '/app', command: ['/bin/echo'], args: ['hi'], envs: [{ key: 'K', value: Buffer.from('v') }] },
    );
    const { spec } = buildSpec(specInputs({ config, image: { Entrypoint: ['/ep'], Cmd: ['x'], WorkingDir: '/img' } }));
    assert.equal(spec.process.terminal, true);
    assert.equal(spec.process.cwd, '/app');
    assert.deepEqual(spec.process.args, ['/bin/echo', 'hi']);
    assert.ok(spec.process.env.includes('K=v'));
    assert.equal(spec.root.readonly, true);
    assert.equal(spec.process.noNewPrivileges, true);
    assert.deepEqual(spec.mounts.find((m) => m.destination === '/etc/hosts')?.options, ['rbind', 'rprivate', 'ro']);
  });

  it('buildSpec() uses the systemd cgroup path and cgroup namespace on a v2 systemd host', () => {
    const base = specInputs();
    const { spec } = buildSpec({
      ...base,
      pod: { ...base.pod, cgroupParent: 'kubepods-besteffort-poduid_1.slice' },
      host: { ...base.host, cgroupVersion: 2, cgroupDriver: 'systemd' },
    });
    assert.equal(spec.linux.cgroupsPath, 'kubepods-besteffort-poduid_1.slice:crt:c0ffee');
    assert.ok(spec.linux.namespaces.some((n) => n.type === 'cgroup'));
  });

  it('buildSpec() passes CRI annotations through without letting them replace ours', () => {
    const config = containerConfig({ annotations: { 'io.kubernetes.container.hash': 'abc', [ANNOTATION_SANDBOX_ID]: 'spoof' } });
    const { spec } = buildSpec(specInputs({ config }));
    assert.equal(spec.annotations['io.kubernetes.container.hash'], 'abc');
    assert.equal(spec.annotations[ANNOTATION_SANDBOX_ID], 'pod123');
  });

  it('buildSpec() refuses a config without metadata', () => {
    assert.throws(() => buildSpec(specInputs({ config: containerConfig({ metadata: null }) })), InvalidArgumentError);
  });
});
