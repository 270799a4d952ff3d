/**
 * Stand-ins for the images the node e2e suite's [NodeConformance] specs run
 * (test/utils/image/manifest.go of the Kubernetes release), built offline and pushed under
 * their registry.k8s.io repository paths and tags, so the daemon's registries.conf serves
 * `registry.k8s.io/e2e-test-images/agnhost:2.53` from the test registry.
 *
 * The busybox, nginx, httpd, nonewprivs and pause stand-ins are critest's
 * (upstream-images.ts). agnhost is the real agnhost binary, which a developer builds from the
 * same Kubernetes tree (`AGNHOST` or `KUBE_BIN_DIR`), on the busybox base with what the
 * upstream image's Dockerfile adds and the specs call: bash, curl (from this host, with the
 * libraries they load), its users and groups, /uploads, the `agnhost-2` link, and a
 * localhost certificate and key at /localhost.crt and /localhost.key (the image's porter
 * pair; `netexec --tls-cert-file` serves HTTPS with them), made here by openssl.
 */
import { mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../src/lib/exec.ts';
import { dir, file, symlink, type BuiltImage, type LayerEntry } from '../../fixtures/image-builder.ts';
import { pushImage, type PushedImage } from '../../fixtures/image-push.ts';
import type { RegistryEndpoint } from '../../fixtures/registry.ts';
import { GROUP, PASSWD, SHADOW, upstreamStandIns } from '../../critest/upstream-images.ts';
import { hostBinaryLayer } from './host-binary-image.ts';

const E2E = 'e2e-test-images';

/** repo:tag (registry.k8s.io path) of every image pushed, with what it stands in for. */
export const NODE_E2E_IMAGE_TAGS = {
  agnhost: [`${E2E}/agnhost:2.53`],
  busybox: [`${E2E}/busybox:1.36.1-1`, `${E2E}/busybox:1.29-2`],
  nginx: [`${E2E}/nginx:1.14-4`, `${E2E}/nginx:1.15-4`],
  httpd: [`${E2E}/httpd:2.4.38-4`, `${E2E}/httpd:2.4.39-4`],
  nonewprivs: [`${E2E}/nonewprivs:1.3`],
  nonroot: [`${E2E}/nonroot:1.4`],
  pause: ['pause:3.10'],
} as const;

/** A self-signed certificate for localhost and its key, PEM. */
async function localhostCertificate(): Promise<{ crt: string; key: string }> {
  const d = await mkdtemp(join(tmpdir(), 'critter-agnhost-tls-'));
  try {
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', join(d, 'key'), '-out', join(d, 'crt')], { timeoutMs: 60_000 });
    return { crt: await readFile(join(d, 'crt'), 'utf8'), key: await readFile(join(d, 'key'), 'utf8') };
  } finally {
    await rm(d, { recursive: true, force: true });
  }
}

/** The agnhost image: its binary, bash and curl from this host, and the Dockerfile's users and files. */
async function agnhostImage(agnhost: string, s: Awaited<ReturnType<typeof upstreamStandIns>>): Promise<BuiltImage> {
  const tools = await hostBinaryLayer([
    { source: agnhost, dest: '/agnhost' },
    { source: await realpath('/bin/bash'), dest: '/bin/bash' },
    { source: await realpath('/usr/bin/curl'), dest: '/usr/bin/curl' },
  ]);
  const tls = await localhostCertificate();
  const users: LayerEntry[] = [
    file('localhost.crt', tls.crt), file('localhost.key', tls.key),
    file('etc/passwd', `${PASSWD}user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh\n`),
    file('etc/group', `${GROUP}user-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n`),
    file('etc/shadow', `${SHADOW}user-defined-in-image:!:19000:0:99999:7:::\n`, { mode: 0o640 }),
    dir('home/user-defined-in-image', { uid: 1000, gid: 1000, mode: 0o755 }),
    dir('uploads'),
    symlink('agnhost-2', 'agnhost'),
  ];
  const ports = Object.fromEntries(['80', '8080', '8081', '9376', '5000'].map((p) => [`${p}/tcp`, {}]));
  return s.build([s.base, tools, { entries: users }], { Entrypoint: ['/agnhost'], Cmd: ['pause'], ExposedPorts: ports });
}

/** Builds every stand-in and pushes it under each of its tags; returns ref → pushed image. */
export async function pushNodeE2eImages(registry: RegistryEndpoint, agnhost: string): Promise<Record<string, PushedImage>> {
  const s = await upstreamStandIns();
  const built: Record<keyof typeof NODE_E2E_IMAGE_TAGS, Promise<BuiltImage>> = {
    agnhost: agnhostImage(agnhost, s),
    busybox: s.onBase([]),
    nginx: s.nginx('80', '80'),
    httpd: s.httpd(),
    nonewprivs: s.nonewprivs(),
    // test/images/nonroot: the busybox image with USER 1234.
    nonroot: s.onBase([], { Cmd: ['sh'], User: '1234' }),
    pause: s.pause(),
  };
  const pushed: Record<string, PushedImage> = {};
  await Promise.all(Object.entries(NODE_E2E_IMAGE_TAGS).flatMap(([name, refs]) => refs.map(async (ref) => {
    const at = ref.lastIndexOf(':');
    pushed[ref] = await pushImage(registry, ref.slice(0, at), ref.slice(at + 1), await built[name as keyof typeof NODE_E2E_IMAGE_TAGS]);
  })));
  return pushed;
}
