/**
 * Stand-ins for every image upstream critest (cri-tools v1.26–v1.36) hard-codes, built
 * offline and pushed under the same repository paths, so a registries.conf rewriting
 * registry.k8s.io, gcr.io, k8s.gcr.io, docker.io and public.ecr.aws to the test registry
 * serves them (`registry.k8s.io/e2e-test-images/busybox:1.29-2` → `HOST/e2e-test-images/busybox:1.29-2`).
 *
 * The base's busybox is compiled from Debian's busybox source package (busybox-build.ts),
 * not the host's busybox-static: the suite runs applets that package lacks (`pgrep`, `ipcs`),
 * and its "runtime should support MaskedPaths" spec masks /bin/ls and expects `sh -c ls` to
 * fail, which only a busybox that exec's /bin/<applet> (no "prefer applets") can show.
 * $CRITEST_BUSYBOX names a prebuilt static busybox to use instead.
 */
import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/lib/exec.ts';
import {
  BlobCache, buildImage, busyboxRootfsLayer, dir, file, pushImage,
  type BuildImageOptions, type BuiltImage, type LayerEntry, type LayerSpec, type PushedImage,
} from '../fixtures/image-builder.ts';
import type { RegistryEndpoint } from '../fixtures/registry.ts';
import { BusyboxBuildUnavailableError, sourceBusybox } from './busybox-build.ts';

const E2E = 'e2e-test-images';
const STAGING = 'k8s-staging-cri-tools';
const BUSYBOX_TAGS = [
  `${E2E}/busybox:1.29-2`,
  'docker/library/busybox:1.35.0-glibc', 'docker/library/busybox:1-uclibc', 'docker/library/busybox:1',
  'docker/library/busybox:1-glibc', 'docker/library/busybox:1-musl',
  'library/busybox:latest', 'library/busybox:1.35', 'busybox:1.28',
];

/** busybox-style users and groups, as in the upstream busybox image. */
export const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
`;
export const GROUP = `root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
`;
export const SHADOW = PASSWD.trim().split('\n').map((l) => `${l.split(':')[0]}:*:10933:0:99999:7:::`).join('\n') + '\n';

const NGINX_INDEX = `<!DOCTYPE html>
<html><head><title>Welcome to nginx!</title></head>
<body><h1>Welcome to nginx!</h1><p>critest web server stand-in (busybox httpd).</p></body></html>
`;

/** Prints Apache's start-up lines (critest greps the log for "httpd -D FOREGROUND"), then serves htdocs. */
const HTTPD_FOREGROUND = `#!/bin/sh
set -e
echo "[mpm_event:notice] [pid $$] AH00489: Apache/2.4.39 (Unix) stand-in (busybox httpd) configured -- resuming normal operations" >&2
echo "[core:notice] [pid $$] AH00094: Command line: 'httpd -D FOREGROUND'" >&2
exec /bin/httpd -f -p 80 -h /usr/local/apache2/htdocs
`;

/** Repository root: the nearest ancestor with package.json (works from test/ and from dist/test/). */
export async function repoRoot(): Promise<string> {
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (await access(join(d, 'package.json')).then(() => true, () => false)) return d;
    const up = dirname(d);
    if (up === d) throw new Error('cannot find the repository root (package.json) above the critest images code');
    d = up;
  }
}

/** Compiles one of images/src/*.c statically (gcc -static), cached by source hash; the kubeadm test takes its pause from here too. */
export async function staticBinary(name: 'pause' | 'fake-nginx' | 'nnp', cache: BlobCache): Promise<string> {
  const src = join(await repoRoot(), 'test', 'critest', 'images', 'src', `${name}.c`);
  const hash = createHash('sha256').update(await readFile(src)).digest('hex').slice(0, 16);
  const out = join(cache.dir, 'bin', `${name}-${hash}`);
  if (await access(out).then(() => true, () => false)) return out;
  await mkdir(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  await run('gcc', ['-static', '-O2', '-Wall', '-o', tmp, src], { timeoutMs: 120_000 });
  await run('strip', [tmp], { timeoutMs: 30_000 });
  await rename(tmp, out);
  return out;
}

function hostFile(path: string, source: string, mode: number): LayerEntry {
  return { type: 'hostFile', path, source, mode };
}

/** repo:tag → pushed image, for every image the upstream suite may pull. */
export type UpstreamCritestImages = Record<string, PushedImage>;

export interface UpstreamImagesOptions {
  cache?: BlobCache;
  /** Static busybox for every image (default $CRITEST_BUSYBOX, else one built from Debian's source package and cached). */
  busybox?: string;
  /** Progress lines while busybox is built (minutes on a first run). */
  log?: (line: string) => void;
}

/** The busybox the stand-ins use; a host that cannot build one gets an error that says what is missing. */
async function critestBusybox(cache: BlobCache, opts: UpstreamImagesOptions): Promise<string> {
  const given = opts.busybox ?? process.env.CRITEST_BUSYBOX;
  if (given) return given;
  try {
    return await sourceBusybox({ cacheDir: join(cache.dir, 'busybox-debian-source'), log: opts.log ?? ((l) => process.stderr.write(`${l}\n`)) });
  } catch (err) {
    const why = err instanceof BusyboxBuildUnavailableError ? err.message : `the build failed: ${String(err)}`;
    throw new Error(`upstream critest images need a static busybox compiled from source (Debian's busybox-static lacks pgrep and ipcs and never exec's /bin/<applet>); ${why}. Set CRITEST_BUSYBOX to a prebuilt one to skip the build.`, { cause: err });
  }
}

/** Builders for the stand-ins on the shared busybox base; the node e2e images reuse them under other tags. */
export interface UpstreamStandIns {
  cache: BlobCache;
  /** The busybox base layer with busybox-style users and groups. */
  base: LayerSpec;
  build(layers: LayerSpec[], config: BuildImageOptions['config']): Promise<BuiltImage>;
  /** The base plus one layer of `entries` (none: the plain busybox image). */
  onBase(entries: LayerEntry[], config?: BuildImageOptions['config']): Promise<BuiltImage>;
  /** The static pause binary as /pause, running as 65535. */
  pause(labels?: Record<string, string>): Promise<BuiltImage>;
  /** The nginx stand-in listening on `listen` (a port or address:port). */
  nginx(listen: string, port: string): Promise<BuiltImage>;
  /** The httpd stand-in (busybox httpd printing Apache's start-up lines). */
  httpd(): Promise<BuiltImage>;
  /** The setuid nnp binary as /usr/local/bin/nnp, run as 1000. */
  nonewprivs(): Promise<BuiltImage>;
}

export async function upstreamStandIns(opts: UpstreamImagesOptions = {}): Promise<UpstreamStandIns> {
  const cache = opts.cache ?? new BlobCache();
  const [busyboxBin, pauseBin, nginxBin, nnpBin] = await Promise.all([
    critestBusybox(cache, opts), staticBinary('pause', cache), staticBinary('fake-nginx', cache), staticBinary('nnp', cache),
  ]);
  const base = await busyboxRootfsLayer({
    busybox: busyboxBin,
    passwd: PASSWD, group: GROUP, shadow: SHADOW,
    extra: [dir('var/spool'), dir('var/spool/mail')],
  });
  const build = (layers: LayerSpec[], config: BuildImageOptions['config']): Promise<BuiltImage> => buildImage({ layers, config, cache });
  const onBase = (entries: LayerEntry[], config: BuildImageOptions['config'] = { Cmd: ['sh'] }): Promise<BuiltImage> =>
    build(entries.length ? [base, { entries }] : [base], config);
  const nginxLayer = (listen: string): LayerEntry[] => [
    dir('etc/nginx'), dir('etc/nginx/conf.d'), dir('var/log/nginx'), dir('usr/share'), dir('usr/share/nginx'), dir('usr/share/nginx/html'),
    hostFile('usr/sbin/nginx', nginxBin, 0o755),
    file('etc/nginx/conf.d/default.conf', `server {\n    listen       ${listen};\n    server_name  localhost;\n    root /usr/share/nginx/html;\n}\n`),
    file('usr/share/nginx/html/index.html', NGINX_INDEX),
  ];
  const pauseLayers: LayerSpec[] = [{ entries: [hostFile('pause', pauseBin, 0o755)] }];
  return {
    cache, base, build, onBase,
    pause: (labels) => build(pauseLayers, { Entrypoint: ['/pause'], User: '65535:65535', ...(labels ? { Labels: labels } : {}) }),
    nginx: (listen, port) => onBase(nginxLayer(listen), { Cmd: ['nginx', '-g', 'daemon off;'], ExposedPorts: { [`${port}/tcp`]: {} }, StopSignal: 'SIGTERM' }),
    httpd: () => onBase([
      dir('usr/local'), dir('usr/local/apache2'), dir('usr/local/apache2/htdocs'), dir('usr/local/apache2/bin'), dir('usr/local/bin'),
      file('usr/local/apache2/htdocs/index.html', '<html><body><h1>It works!</h1></body></html>\n'),
      file('usr/local/bin/httpd-foreground', HTTPD_FOREGROUND, { mode: 0o755 }),
    ], {
      Env: ['PATH=/usr/local/apache2/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HTTPD_PREFIX=/usr/local/apache2'],
      WorkingDir: '/usr/local/apache2', Cmd: ['httpd-foreground'], ExposedPorts: { '80/tcp': {} },
    }),
    nonewprivs: () => onBase([dir('usr/local'), dir('usr/local/bin'), hostFile('usr/local/bin/nnp', nnpBin, 0o4755)], { Cmd: ['/usr/local/bin/nnp'], User: '1000' }),
  };
}

export async function buildUpstreamCritestImages(registry: RegistryEndpoint, opts: UpstreamImagesOptions = {}): Promise<UpstreamCritestImages> {
  const { onBase, pause, nginx, httpd, nonewprivs } = await upstreamStandIns(opts);
  const marker = (name: string): Promise<BuiltImage> => onBase([file(name, '')]);

  const busybox = await onBase([]);
  const images: [BuiltImage, string[]][] = await Promise.all([
    Promise.resolve<[BuiltImage, string[]]>([busybox, BUSYBOX_TAGS]),
    pause().then((i) => [i, ['pause:3.9', 'pause:3.6']] as [BuiltImage, string[]]),
    // A distinct image ID for a runtime's own sandbox image: the spec "removing image from
    // one registry should remove all tags from other registries" expects pause:3.9 to have
    // exactly the tags the suite gave it.
    pause({ 'org.opencontainers.image.version': '3.10', 'org.critter.role': 'sandbox' }).then((i) => [i, ['pause:3.10']] as [BuiltImage, string[]]),
    nginx('80', '80').then((i) => [i, [`${E2E}/nginx:1.14-2`]] as [BuiltImage, string[]]),
    nginx('127.0.0.1:12003', '12003').then((i) => [i, [`${STAGING}/hostnet-nginx-amd64:latest`]] as [BuiltImage, string[]]),
    httpd().then((i) => [i, [`${E2E}/httpd:2.4.39-4`]] as [BuiltImage, string[]]),
    nonewprivs().then((i) => [i, [`${E2E}/nonewprivs:1.3`]] as [BuiltImage, string[]]),
    ...([['user-uid', '1002'], ['user-username', 'www-data'], ['user-uid-group', '1003:1004'], ['user-username-group', 'www-data:1004']] as const)
      .map(([n, user]) => onBase([], { Cmd: ['sh'], User: user }).then((i) => [i, [`${STAGING}/test-image-${n}:latest`]] as [BuiltImage, string[]])),
    // Same users and groups as upstream's image-predefined-group Dockerfile (adduser + addgroup).
    onBase([
      file('etc/passwd', `${PASSWD}default-user:x:1000:1000:Linux User,,,:/home/default-user:/bin/sh\n`),
      file('etc/group', `${GROUP}default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n`),
      file('etc/shadow', `${SHADOW}default-user:!:19000:0:99999:7:::\n`, { mode: 0o640 }),
      dir('home/default-user', { uid: 1000, gid: 1000, mode: 0o755 }),
    ], { Cmd: ['sh'], User: '1000' }).then((i) => [i, [`${STAGING}/test-image-predefined-group:latest`]] as [BuiltImage, string[]]),
    ...['test-image-1', 'test-image-2', 'test-image-3', 'test-image-latest', 'test-image-digest']
      .map((n) => marker(n).then((i) => [i, [`${STAGING}/${n}:latest`]] as [BuiltImage, string[]])),
    marker('same-image').then((i) => [i, [1, 2, 3].map((t) => `${STAGING}/test-image-tags:${t}`)] as [BuiltImage, string[]]),
    marker('test').then((i) => [i, [`${STAGING}/test-image-tag:test`]] as [BuiltImage, string[]]),
    marker('all').then((i) => [i, [`${STAGING}/test-image-tag:all`]] as [BuiltImage, string[]]),
  ]);

  const pushed: UpstreamCritestImages = {};
  await Promise.all(images.flatMap(([image, refs]) => refs.map(async (ref) => {
    const at = ref.lastIndexOf(':');
    pushed[ref] = await pushImage(registry, ref.slice(0, at), ref.slice(at + 1), image);
  })));
  return pushed;
}
