/**
 * A static busybox compiled from Debian's source package, for the upstream critest stand-in
 * images. Debian's busybox-static is not good enough there:
 *   - it lacks applets the suite runs in its containers (`pgrep` for "execSync with timeout",
 *     `ipcs` for the HostIpc specs);
 *   - it prefers its built-in applets, so `sh -c ls` never exec's /bin/ls and the MaskedPaths
 *     spec (mask /bin/ls, expect `ls` to fail) cannot be shown with it.
 * Upstream's `make defconfig` has every applet and neither "prefer applets" nor "standalone
 * shell", like the official busybox image. Only the orig tarball is built (no Debian patches,
 * no Debian config), as static.
 *
 * The source comes through a private apt configuration (sources list, lists, archive cache all
 * under the cache directory) so the host's apt state is never touched. The binary is cached by
 * the Debian source version; once built, later runs reuse it without any network access.
 */
import { access, constants, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { delimiter, join } from 'node:path';
import { run } from '../../src/lib/exec.ts';

const SOURCE_PACKAGE = 'busybox';
/** deb822 source entry; bookworm's archive key is shipped by debian-archive-keyring. */
const SOURCES = `Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;
const APT_TIMEOUT_MS = 10 * 60_000;
const BUILD_TIMEOUT_MS = 20 * 60_000;
/** Host tools the build needs, with the Debian package that ships each. */
const TOOLS: [tool: string, debianPackage: string][] = [
  ['apt-get', 'apt'], ['apt-cache', 'apt'], ['tar', 'tar'], ['bzip2', 'bzip2'],
  ['make', 'make (build-essential)'], ['gcc', 'gcc (build-essential)'],
];

export interface SourceBusyboxOptions {
  /** Directory that keeps the private apt state and the built binaries between runs. */
  cacheDir: string;
  /** Progress lines (a first build takes minutes). */
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** Raised when the host cannot build busybox; the message names what is missing and why. */
export class BusyboxBuildUnavailableError extends Error {
  override readonly name = 'BusyboxBuildUnavailableError';
}

/**
 * Path of a static busybox built from Debian's `busybox` source package: the cached one for
 * the source version the private apt lists name, or a fresh build (apt-get update, apt-get
 * source --download-only, make defconfig + CONFIG_STATIC=y, make -j$(nproc)).
 */
export async function sourceBusybox(opts: SourceBusyboxOptions): Promise<string> {
  const apt = new PrivateApt(join(opts.cacheDir, 'apt'), opts.signal);
  // Offline first: a previous run's lists name the version, and its binary may be cached.
  const known = await apt.sourceVersion();
  if (known && await isExecutable(binaryPath(opts.cacheDir, known))) return binaryPath(opts.cacheDir, known);

  await requireTools();
  opts.log?.('busybox: fetching the Debian source package index (private apt lists)');
  await apt.update();
  const version = await apt.sourceVersion();
  if (!version) throw new BusyboxBuildUnavailableError(`apt knows no source package "${SOURCE_PACKAGE}" after apt-get update with ${SOURCES.split('\n')[1]}`);
  const out = binaryPath(opts.cacheDir, version);
  if (await isExecutable(out)) return out;

  const t0 = Date.now();
  opts.log?.(`busybox: building ${SOURCE_PACKAGE} ${version} from source (static, defconfig); first run only`);
  const work = join(opts.cacheDir, 'work', `${safeName(version)}.${process.pid}`);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    await apt.downloadSource(work);
    const srcDir = await extractOrig(work, version, opts.signal);
    await compileStatic(srcDir, opts.signal);
    await mkdir(join(opts.cacheDir, 'bin'), { recursive: true });
    const tmp = `${out}.${process.pid}.tmp`;
    await run('install', ['-m', '0755', join(srcDir, 'busybox'), tmp], { timeoutMs: 30_000 });
    await rename(tmp, out);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  opts.log?.(`busybox: built ${out} in ${Math.round((Date.now() - t0) / 1000)} s`);
  return out;
}

/** apt-get/apt-cache with every piece of state under `root`: the host's sources and lists are neither read nor written. */
class PrivateApt {
  readonly root: string;
  readonly signal: AbortSignal | undefined;
  constructor(root: string, signal: AbortSignal | undefined) {
    this.root = root;
    this.signal = signal;
  }
  private options(): string[] {
    return [
      '-o', 'Dir::Etc::SourceList=/dev/null',
      '-o', `Dir::Etc::SourceParts=${join(this.root, 'parts')}`,
      '-o', `Dir::State::Lists=${join(this.root, 'lists')}`,
      '-o', `Dir::Cache=${join(this.root, 'cache')}`,
    ];
  }
  async update(): Promise<void> {
    for (const d of ['parts', 'lists/partial', 'cache/archives/partial']) await mkdir(join(this.root, d), { recursive: true });
    await writeFile(join(this.root, 'parts', 'src.sources'), SOURCES);
    await run('apt-get', [...this.options(), '-q', 'update'], { timeoutMs: APT_TIMEOUT_MS, signal: this.signal }).catch((err: unknown) => {
      throw new BusyboxBuildUnavailableError(`cannot fetch Debian's source index (needs the Debian archive): ${String(err)}`, { cause: err });
    });
  }
  /** Highest version of the source package in the private lists (what `apt-get source` picks); undefined before the first update. */
  async sourceVersion(): Promise<string | undefined> {
    if (!(await exists(join(this.root, 'lists')))) return undefined;
    const res = await run('apt-cache', [...this.options(), 'showsrc', '--only-source', SOURCE_PACKAGE], { timeoutMs: 60_000, signal: this.signal })
      .catch(() => undefined);
    const versions = [...(res?.stdout ?? '').matchAll(/^Version: (\S+)$/gm)].map((m) => m[1]!);
    let best: string | undefined;
    for (const v of versions) {
      if (!best || await debVersionGreater(v, best)) best = v;
    }
    return best;
  }
  async downloadSource(into: string): Promise<void> {
    await run('apt-get', [...this.options(), '-q', 'source', '--download-only', SOURCE_PACKAGE], { cwd: into, timeoutMs: APT_TIMEOUT_MS, signal: this.signal });
  }
}

/** Unpacks busybox_<upstream>.orig.tar.bz2 (upstream source only, as released) and returns its directory. */
async function extractOrig(work: string, version: string, signal: AbortSignal | undefined): Promise<string> {
  const upstream = upstreamVersion(version);
  const orig = (await readdir(work)).find((f) => f.startsWith(`${SOURCE_PACKAGE}_${upstream}.orig.tar`));
  if (!orig) throw new Error(`apt-get source ${SOURCE_PACKAGE} left no orig tarball for ${upstream} in ${work}: ${(await readdir(work)).join(', ')}`);
  await run('tar', ['-xaf', join(work, orig), '-C', work], { timeoutMs: 120_000, signal });
  const dir = join(work, `${SOURCE_PACKAGE}-${upstream}`);
  if (!(await exists(join(dir, 'Makefile')))) throw new Error(`${orig} did not unpack to ${dir}`);
  return dir;
}

async function compileStatic(dir: string, signal: AbortSignal | undefined): Promise<void> {
  const make = (args: string[], input?: string): Promise<unknown> =>
    run('make', args, { cwd: dir, timeoutMs: BUILD_TIMEOUT_MS, signal, input, maxOutput: 1024 * 1024 }).catch((err: unknown) => {
      throw new Error(`building busybox failed at make ${args.join(' ')} (in ${dir}): ${String(err).slice(-4000)}`, { cause: err });
    });
  await make(['defconfig']);
  const configPath = join(dir, '.config');
  const config = await readFile(configPath, 'utf8');
  if (!config.includes('# CONFIG_STATIC is not set')) throw new Error(`busybox defconfig has no "# CONFIG_STATIC is not set" line to flip (${configPath})`);
  await writeFile(configPath, config.replace('# CONFIG_STATIC is not set', 'CONFIG_STATIC=y'));
  // Take the default for any question the flipped option raises (`yes '' | make oldconfig`).
  await make(['oldconfig'], '\n'.repeat(200));
  await make([`-j${availableParallelism()}`]);
  const { stdout } = await run('file', ['-b', join(dir, 'busybox')], { timeoutMs: 10_000 }).catch(() => ({ stdout: 'statically linked (file(1) unavailable)' }));
  if (!/statically linked/.test(stdout)) throw new Error(`the busybox built in ${dir} is not static: ${stdout.trim()}`);
}

async function requireTools(): Promise<void> {
  const missing: string[] = [];
  for (const [tool, pkg] of TOOLS) {
    if (!(await onPath(tool))) missing.push(`${tool} (Debian package ${pkg})`);
  }
  if (missing.length) throw new BusyboxBuildUnavailableError(`cannot build busybox from Debian's source package: missing ${missing.join(', ')}`);
}

/** "1:1.35.0-4+b1" → "1.35.0": the epoch and the Debian revision are not part of the tarball name. */
export function upstreamVersion(debVersion: string): string {
  const noEpoch = debVersion.replace(/^\d+:/, '');
  const dash = noEpoch.lastIndexOf('-');
  return dash < 0 ? noEpoch : noEpoch.slice(0, dash);
}

function binaryPath(cacheDir: string, version: string): string {
  return join(cacheDir, 'bin', `busybox-${safeName(version)}-static`);
}

function safeName(version: string): string {
  return version.replace(/[^\w.+-]/g, '_');
}

function debVersionGreater(a: string, b: string): Promise<boolean> {
  return run('dpkg', ['--compare-versions', a, 'gt', b], { timeoutMs: 10_000 }).then(() => true, () => false);
}

async function onPath(tool: string): Promise<boolean> {
  for (const d of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    if (await isExecutable(join(d, tool))) return true;
  }
  return false;
}

function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(() => true, () => false);
}

function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}
