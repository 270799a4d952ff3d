import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FailedPreconditionError, InvalidArgumentError, UnimplementedError } from '../../lib/errors.ts';
import type { MountPropagationMode } from './inputs.ts';
import { RRO_UNSUPPORTED, bindOptions, buildMounts, criMounts, idmapBinds, imageSubPath, podMounts, uncoveredImageVolumes, type BindRequest } from './mounts.ts';
import { buildSpec } from './build.ts';
import type { Mount__Output } from '../../generated/cri/runtime/v1/Mount.ts';
import { mount, specInputs } from './testing.ts';

const PRIVATE = 0;
const HOST_TO_CONTAINER = 1;
const BIDIRECTIONAL = 2;

function host(mode: MountPropagationMode, rroSupported = true) {
  return { rroSupported, hostMountPropagation: () => mode };
}

function imageMount(over: Partial<Mount__Output> = {}): Mount__Output {
  return mount({ host_path: '', image: { image: 'vol:1', annotations: {}, user_specified_image: '', runtime_handler: '', image_ref: '' }, ...over });
}

function req(over: Partial<BindRequest> = {}): BindRequest {
  return { hostPath: '/srv', containerPath: '/data', readonly: false, propagation: PRIVATE, recursiveReadOnly: false, ...over };
}

describe('bindOptions()', () => {
  const ok = [
    { name: 'private rw', r: req(), mode: 'private' as const, want: ['rbind', 'rprivate', 'rw'], rootfs: 'rprivate' },
    { name: 'private ro', r: req({ readonly: true }), mode: 'private' as const, want: ['rbind', 'rprivate', 'ro'], rootfs: 'rprivate' },
    { name: 'host-to-container on slave', r: req({ propagation: HOST_TO_CONTAINER }), mode: 'slave' as const, want: ['rbind', 'rslave', 'rw'], rootfs: 'rslave' },
    { name: 'host-to-container on shared', r: req({ propagation: HOST_TO_CONTAINER }), mode: 'shared' as const, want: ['rbind', 'rslave', 'rw'], rootfs: 'rslave' },
    { name: 'bidirectional on shared', r: req({ propagation: BIDIRECTIONAL }), mode: 'shared' as const, want: ['rbind', 'rshared', 'rw'], rootfs: 'rshared' },
    { name: 'recursive read-only', r: req({ readonly: true, recursiveReadOnly: true }), mode: 'private' as const, want: ['rbind', 'rprivate', 'rro'], rootfs: 'rprivate' },
  ];
  for (const c of ok) {
    it(`bindOptions() ${c.name}`, () => {
      assert.deepEqual(bindOptions(c.r, host(c.mode)), { options: c.want, rootfs: c.rootfs });
    });
  }

  const bad = [
    { name: 'bidirectional on a private mount', r: req({ propagation: BIDIRECTIONAL }), h: host('private'), cls: FailedPreconditionError, re: /BIDIRECTIONAL.*private host mount.*must be shared/ },
    { name: 'bidirectional on a slave mount', r: req({ propagation: BIDIRECTIONAL }), h: host('slave'), cls: FailedPreconditionError, re: /slave host mount/ },
    { name: 'host-to-container on a private mount', r: req({ propagation: HOST_TO_CONTAINER }), h: host('private'), cls: FailedPreconditionError, re: /shared or slave/ },
    { name: 'rro without readonly', r: req({ recursiveReadOnly: true }), h: host('private'), cls: InvalidArgumentError, re: /conflicts with a read-write mount/ },
    { name: 'rro with slave propagation', r: req({ readonly: true, recursiveReadOnly: true, propagation: HOST_TO_CONTAINER }), h: host('shared'), cls: InvalidArgumentError, re: /needs PROPAGATION_PRIVATE, got PROPAGATION_HOST_TO_CONTAINER/ },
    { name: 'rro on an unsupported kernel', r: req({ readonly: true, recursiveReadOnly: true }), h: host('private', false), cls: FailedPreconditionError, re: new RegExp(`^${RRO_UNSUPPORTED}: `) },
    { name: 'unknown propagation', r: req({ propagation: 7 }), h: host('shared'), cls: InvalidArgumentError, re: /unknown propagation 7/ },
  ];
  for (const c of bad) {
    it(`bindOptions() refuses ${c.name}`, () => {
      assert.throws(() => bindOptions(c.r, c.h), (err: unknown) => err instanceof c.cls && c.re.test(err.message));
    });
  }

  it('bindOptions() asks about the host path', () => {
    const asked: string[] = [];
    bindOptions(req({ hostPath: '/mnt/x', propagation: BIDIRECTIONAL }), { rroSupported: true, hostMountPropagation: (p) => (asked.push(p), 'shared') });
    assert.deepEqual(asked, ['/mnt/x']);
  });
});

describe('criMounts()', () => {
  it('criMounts() refuses relative paths and id mappings', () => {
    assert.throws(() => criMounts([mount({ container_path: 'data' })]), InvalidArgumentError);
    assert.throws(() => criMounts([mount({ host_path: '' })]), InvalidArgumentError);
    assert.throws(() => criMounts([mount({ uidMappings: [{ host_id: 1, container_id: 0, length: 1 }] })]), UnimplementedError);
  });

  it('criMounts() accepts the pod\'s own mappings on a mount in a pod with a user namespace, and refuses others', () => {
    const maps = [{ containerId: 0, hostId: 100000, length: 65536 }];
    const cri = [{ container_id: 0, host_id: 100000, length: 65536 }];
    const userns = { uids: maps, gids: maps };
    assert.equal(criMounts([mount({ uidMappings: cri, gidMappings: cri })], new Map(), userns).length, 1);
    assert.throws(() => criMounts([mount({ uidMappings: [{ ...cri[0]!, host_id: 200000 }], gidMappings: cri })], new Map(), userns),
      (err: unknown) => err instanceof UnimplementedError && /only the pod's own/.test(err.message));
  });

  it('criMounts() binds an image volume read-only and private from the host path it was mounted at', () => {
    const m = imageMount({ container_path: '/vol', readonly: false, propagation: BIDIRECTIONAL, recursive_read_only: true });
    assert.deepEqual(criMounts([m], new Map([['/vol', '/bundle/image-volumes/0']])), [
      { hostPath: '/bundle/image-volumes/0', containerPath: '/vol', readonly: true, propagation: PRIVATE, recursiveReadOnly: false, imageVolume: true },
    ]);
  });

  it('criMounts() refuses an image volume nobody mounted', () => {
    assert.throws(() => criMounts([imageMount({ container_path: '/vol' })]), (err: unknown) => err instanceof FailedPreconditionError && /"\/vol".*"vol:1".*not mounted/.test(err.message));
  });
});

describe('buildSpec() with image volumes', () => {
  it('buildSpec() binds an image volume read-only at its container path', () => {
    const inputs = specInputs();
    inputs.config = { ...inputs.config, mounts: [imageMount({ container_path: '/vol' })] };
    inputs.imageVolumes = new Map([['/vol', '/bundle/image-volumes/0/data/sub']]);
    const vol = buildSpec(inputs).spec.mounts.find((m) => m.destination === '/vol');
    assert.deepEqual(vol, { destination: '/vol', type: 'bind', source: '/bundle/image-volumes/0/data/sub', options: ['rbind', 'rprivate', 'ro'] });
  });
});

describe('idmapBinds()', () => {
  const bind = (over: Partial<BindRequest> = {}): BindRequest => ({ hostPath: '/data', containerPath: '/vol', readonly: false, propagation: PRIVATE, recursiveReadOnly: false, ...over });

  it('idmapBinds() points host binds at staging places and leaves image volumes alone', () => {
    const got = idmapBinds([bind(), bind({ hostPath: '/iv', imageVolume: true }), bind({ hostPath: '/etc-hosts', containerPath: '/etc/hosts' })], '/run/idmap/c1');
    assert.deepEqual(got.binds.map((b) => b.hostPath), ['/run/idmap/c1/v0', '/iv', '/run/idmap/c1/v2']);
    assert.deepEqual(got.staged, [{ source: '/data', place: '/run/idmap/c1/v0' }, { source: '/etc-hosts', place: '/run/idmap/c1/v2' }]);
  });

  it('idmapBinds() refuses propagation other than private, naming the mount', () => {
    assert.throws(() => idmapBinds([bind({ propagation: HOST_TO_CONTAINER })], '/s'), (err: unknown) => err instanceof UnimplementedError && /"\/vol".*PROPAGATION_HOST_TO_CONTAINER/.test(err.message));
  });
});

describe('buildSpec() in a pod with a user namespace', () => {
  it('buildSpec() joins the pod user namespace with its mappings and stages the host binds', () => {
    const inputs = specInputs();
    const maps = [{ containerId: 0, hostId: 100000, length: 65536 }];
    inputs.pod = { ...inputs.pod, userns: { path: '/run/userns/pod', uids: maps, gids: maps } };
    inputs.idmapStagingDir = '/run/idmap/c1';
    inputs.config = { ...inputs.config, mounts: [mount({ host_path: '/data', container_path: '/vol' })] };
    const built = buildSpec(inputs);
    assert.deepEqual(built.spec.linux.namespaces[0], { type: 'user', path: '/run/userns/pod' });
    assert.deepEqual(built.spec.linux.uidMappings, [{ containerID: 0, hostID: 100000, size: 65536 }]);
    assert.deepEqual(built.spec.linux.gidMappings, [{ containerID: 0, hostID: 100000, size: 65536 }]);
    assert.equal(built.spec.mounts.find((m) => m.destination === '/vol')?.source, '/run/idmap/c1/v0');
    assert.deepEqual(built.idmapBinds, [{ source: '/data', place: '/run/idmap/c1/v0' }]);
  });

  it('buildSpec() without a user namespace stages nothing and has no mappings', () => {
    const built = buildSpec(specInputs());
    assert.deepEqual(built.idmapBinds, []);
    assert.equal(built.spec.linux.uidMappings, undefined);
  });
});

describe('imageSubPath()', () => {
  it('imageSubPath() accepts relative paths inside the image', () => {
    assert.equal(imageSubPath(imageMount({ image_sub_path: '' })), '');
    assert.equal(imageSubPath(imageMount({ image_sub_path: 'data/sub' })), 'data/sub');
    assert.equal(imageSubPath(imageMount({ image_sub_path: './data/..x' })), './data/..x');
  });

  for (const sub of ['../../etc', 'data/../../etc', '..', '/etc', 'a\u0000b']) {
    it(`imageSubPath() refuses ${JSON.stringify(sub)} naming it`, () => {
      assert.throws(() => imageSubPath(imageMount({ image_sub_path: sub })), (err: unknown) => err instanceof InvalidArgumentError && err.message.includes(JSON.stringify(sub)));
    });
  }
});

describe('podMounts()', () => {
  it('podMounts() binds the pod files read-only only with a read-only rootfs, shm always rw', () => {
    const { pod } = specInputs();
    const rw = podMounts(pod, false);
    assert.deepEqual(rw.map((m) => [m.containerPath, m.readonly]), [
      ['/etc/hostname', false], ['/etc/hosts', false], ['/etc/resolv.conf', false], ['/dev/shm', false],
    ]);
    assert.deepEqual(podMounts(pod, true).map((m) => m.readonly), [true, true, true, false]);
    assert.deepEqual(podMounts({ sandboxId: 'p', hostname: 'h', cgroupParent: '' }, false), []);
  });
});

describe('buildMounts()', () => {
  const destinations = (ms: { destination: string }[]) => ms.map((m) => m.destination);

  it('buildMounts() puts defaults first and orders parents before children', () => {
    const { mounts } = buildMounts(
      criMounts([mount({ container_path: '/a/b/c', host_path: '/h1' }), mount({ container_path: '/a', host_path: '/h2' })]),
      [],
      false,
      host('private'),
    );
    const d = destinations(mounts);
    assert.ok(d.indexOf('/a') < d.indexOf('/a/b/c'));
    assert.ok(d.indexOf('/dev') < d.indexOf('/dev/pts'));
    assert.ok(d.indexOf('/sys') < d.indexOf('/sys/fs/cgroup'));
    assert.ok(!d.includes('/run'));
  });

  it('buildMounts() lets the pod shm replace the default /dev/shm tmpfs', () => {
    const { mounts } = buildMounts([], podMounts(specInputs().pod, false), false, host('private'));
    const shm = mounts.filter((m) => m.destination === '/dev/shm');
    assert.equal(shm.length, 1);
    assert.deepEqual(shm[0], { destination: '/dev/shm', type: 'bind', source: '/run/critter/pods/pod123/shm', options: ['rbind', 'rprivate', 'rw'] });
  });

  it('buildMounts() lets CRI mounts override pod files and defaults at the same destination', () => {
    const { mounts } = buildMounts(
      criMounts([mount({ container_path: '/etc/hosts', host_path: '/kubelet/hosts' }), mount({ container_path: '/proc/', host_path: '/hostproc' })]),
      podMounts(specInputs().pod, false),
      false,
      host('private'),
    );
    const hosts = mounts.filter((m) => m.destination === '/etc/hosts');
    assert.deepEqual(hosts.map((m) => m.source), ['/kubelet/hosts']);
    assert.deepEqual(mounts.filter((m) => m.destination.startsWith('/proc')).map((m) => m.source), ['/hostproc']);
  });

  it('buildMounts() drops every default under /dev when /dev is a CRI mount', () => {
    const { mounts } = buildMounts(criMounts([mount({ container_path: '/dev', host_path: '/dev' })]), [], false, host('private'));
    assert.deepEqual(destinations(mounts).filter((d) => d.startsWith('/dev')), ['/dev']);
  });

  it('buildMounts() makes /sys and cgroupfs read-only unless privileged', () => {
    const opts = (privileged: boolean) => buildMounts([], [], privileged, host('private')).mounts
      .filter((m) => m.destination === '/sys' || m.destination === '/sys/fs/cgroup')
      .map((m) => m.options.at(-1));
    assert.deepEqual(opts(false), ['ro', 'ro']);
    assert.deepEqual(opts(true), ['rw', 'rw']);
  });

  it('buildMounts() reports the strongest rootfs propagation', () => {
    const h = host('shared');
    assert.equal(buildMounts([], [], false, h).rootfsPropagation, 'rprivate');
    assert.equal(buildMounts(criMounts([mount({ propagation: HOST_TO_CONTAINER })]), [], false, h).rootfsPropagation, 'rslave');
    assert.equal(buildMounts(criMounts([
      mount({ propagation: BIDIRECTIONAL, container_path: '/x' }), mount({ propagation: HOST_TO_CONTAINER, container_path: '/y' }),
    ]), [], false, h).rootfsPropagation, 'rshared');
  });
});

describe('uncoveredImageVolumes()', () => {
  it('uncoveredImageVolumes() lists image volumes no mount covers', () => {
    assert.deepEqual(uncoveredImageVolumes({ '/data': {}, '/cache/': {}, 'rel': {} }, [{ destination: '/data', type: 'bind', source: '/h', options: [] }]), ['/cache']);
    assert.deepEqual(uncoveredImageVolumes(null, []), []);
  });
});
