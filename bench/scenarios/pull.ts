/**
 * Pull throughput (issue: image service, benchmark): `pull`, a ~200 MB, 5-layer gzip image,
 * built offline with a mix of incompressible data, text-like data and many small files;
 * `pull-small-files`, one layer of 20,000 files of 1-8 KiB (per-entry cost dominates). Both
 * are served by a local registry the scenario starts. Each iteration times a full
 * PullImage (the image removed in between, so every layer is fetched, verified,
 * decompressed and extracted again) and, in the same run, GNU `tar -xzf` of the same
 * layer blobs one after another into a temp dir. Target: pull / tar ≤ 1.0. The server's
 * peak RSS over the timed pulls is printed too (VmHWM, reset before the first).
 */
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCipheriv, createHash } from 'node:crypto';
import { run } from '../../src/lib/exec.ts';
import type { CriClient } from '../../test/integration/helpers/cri-client.ts';
import { startRegistry, type RunningRegistry } from '../../test/fixtures/registry.ts';
import { registriesConfText } from '../../test/fixtures/registries-conf.ts';
import { buildImage, dir, file, pushImage, type LayerEntry, type LayerSpec, type PushedImage, type BuiltImage } from '../../test/fixtures/image-builder.ts';
import { PerEndpoint, quantile, type Scenario, type Timer } from '../harness.ts';
import { peakRssKiB, resetPeakRss, rssKiB, serverPid, socketOf } from '../proc.ts';
import { unjournaledExt4Warning } from '../fs-journal.ts';

const LAYERS = 5;
const PULL_DEADLINE_MS = 10 * 60_000;
const WORDS = ['kubelet', 'sandbox', 'container', 'overlay', 'registry', 'manifest', 'digest', 'layer', 'runtime', 'namespace',
  'cgroup', 'mount', 'socket', 'conmon', 'image', 'pull', 'status', 'config', 'network', 'volume', 'critter', 'node', 'pod'];

/** Deterministic pseudo-random bytes (AES-CTR keystream of a seed). */
function keystream(seed: string, size: number): Buffer {
  const cipher = createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

/** Text that gzip shrinks about 3×, like logs, sources and configs in real images. */
function textLike(seed: string, size: number): Buffer {
  const rnd = keystream(seed, size);
  const out: string[] = [];
  let len = 0;
  for (let i = 0; len < size; i++) {
    const w = `${WORDS[rnd[i % size]! % WORDS.length]!}${rnd[(i * 7) % size]! % 10 === 0 ? `-${rnd[(i * 13) % size]!}\n` : ' '}`;
    out.push(w);
    len += w.length;
  }
  return Buffer.from(out.join('').slice(0, size));
}

/** One layer of about 45 MB: a 32 MB incompressible file, 64 × 128 KiB mixed files, 1000 small text files. */
function benchLayer(n: number): LayerSpec {
  const entries: LayerEntry[] = [dir(`layer${n}`), dir(`layer${n}/mixed`), dir(`layer${n}/small`)];
  entries.push(file(`layer${n}/big.bin`, keystream(`bench-big-${n}`, 32 * 1024 * 1024)));
  for (let i = 0; i < 64; i++) {
    const half = 64 * 1024;
    entries.push(file(`layer${n}/mixed/${i}.dat`, Buffer.concat([keystream(`bench-mixed-${n}-${i}`, half), textLike(`bench-mixed-text-${n}-${i}`, half)])));
  }
  for (let i = 0; i < 1000; i++) entries.push(file(`layer${n}/small/${i}.txt`, textLike(`bench-small-${n}-${i}`, 2048 + ((i * 977) % 6144))));
  return { entries };
}

/** One layer of 20,000 small text files in 100 directories. */
function smallFilesLayer(): LayerSpec {
  const entries: LayerEntry[] = [dir('many')];
  for (let d = 0; d < 100; d++) {
    entries.push(dir(`many/${d}`));
    for (let i = 0; i < 200; i++) entries.push(file(`many/${d}/${i}.txt`, textLike(`bench-many-${d}-${i}`, 1024 + ((d * 200 + i) * 977) % 7168)));
  }
  return { entries };
}

/** What run.ts starts before the daemon for a scenario that needs it: here, the registry. */
export interface DaemonSetup {
  registriesConf?: string;
  close(): Promise<void>;
}

interface PullState {
  scratch: string;
  /** Wall times since beginTimed(). */
  pulls: number[];
  tars: number[];
  server: number;
  /** The server's RSS when the timed pulls began (its peak was reset then). */
  rssBefore: number;
}

class PullBenchmark implements Scenario {
  readonly name: string;
  readonly describe: string;
  readonly #layers: () => LayerSpec[];
  #registry: RunningRegistry | undefined;
  #built: BuiltImage | undefined;
  #image: PushedImage | undefined;
  readonly #state: PerEndpoint<PullState>;

  constructor(name: string, describe: string, layers: () => LayerSpec[]) {
    this.name = name;
    this.describe = describe;
    this.#layers = layers;
    this.#state = new PerEndpoint<PullState>(name);
  }

  /** Builds (cached on disk after the first run) and pushes the image; called before the daemon starts. */
  async beforeDaemon(): Promise<DaemonSetup> {
    const t0 = Date.now();
    this.#built = await buildImage({ layers: this.#layers(), config: { Cmd: ['sh'] } });
    this.#registry = await startRegistry();
    this.#image = await pushImage(this.#registry, `critter-bench/${this.name}`, 'latest', this.#built);
    const mb = (this.#image.layersSize / 1e6).toFixed(1);
    console.log(`${this.name} benchmark image: ${this.#built.layers.length} layers, ${mb} MB compressed, built and pushed in ${Date.now() - t0} ms`);
    const warning = await unjournaledExt4Warning(tmpdir());
    if (warning) console.log(warning);
    const registry = this.#registry;
    return { registriesConf: registriesConfText(registry.host), close: () => registry.stop() };
  }

  async setup(client: CriClient): Promise<void> {
    if (!this.#image) throw new Error(`the ${this.name} scenario needs run.ts to call beforeDaemon() first`);
    const server = await serverPid(socketOf(client));
    this.#state.set(client, { scratch: await mkdtemp(join(tmpdir(), 'critter-bench-tar-')), pulls: [], tars: [], server, rssBefore: 0 });
    await client.call('RemoveImage', { image: { image: this.#image.reference } });
  }

  async run(client: CriClient, iterations: number, time: Timer): Promise<void> {
    const image = this.#image!;
    const state = this.#state.get(client);
    for (let i = 0; i < iterations; i++) {
      const t0 = process.hrtime.bigint();
      await time('PullImage', () => client.call('PullImage', { image: { image: image.reference } }, { deadlineMs: PULL_DEADLINE_MS }));
      const pullMs = Number(process.hrtime.bigint() - t0) / 1e6;
      await client.call('RemoveImage', { image: { image: image.reference } });
      const t1 = process.hrtime.bigint();
      await time(`tar -xzf (${this.#built!.layers.length} layers)`, () => this.#untarAll(state.scratch, i));
      const tarMs = Number(process.hrtime.bigint() - t1) / 1e6;
      state.pulls.push(pullMs);
      state.tars.push(tarMs);
    }
  }

  async beginTimed(client: CriClient): Promise<void> {
    const state = this.#state.get(client);
    state.pulls = [];
    state.tars = [];
    await resetPeakRss(state.server);
    state.rssBefore = await rssKiB(state.server);
  }

  async summary(client: CriClient): Promise<string> {
    const { pulls, tars, server, rssBefore } = this.#state.get(client);
    const p = quantile(pulls, 0.5);
    const t = quantile(tars, 0.5);
    const mib = (kib: number): string => (kib / 1024).toFixed(1);
    return `pull wall times ms: ${pulls.map((x) => x.toFixed(0)).join(', ')}; tar wall times ms: ${tars.map((x) => x.toFixed(0)).join(', ')}; ` +
      `median pull ${p.toFixed(0)} ms, median tar ${t.toFixed(0)} ms, ratio pull/tar ${(p / t).toFixed(2)} (target <= 1.0); ` +
      `server RSS ${mib(rssBefore)} MiB before the timed pulls, peak ${mib(await peakRssKiB(server))} MiB during them`;
  }

  async teardown(client: CriClient): Promise<void> {
    const state = this.#state.take(client);
    if (state) await rm(state.scratch, { recursive: true, force: true });
  }

  /** GNU tar, one layer after another, each into its own fresh dir (as layers are stored). */
  async #untarAll(scratch: string, iteration: number): Promise<void> {
    const base = join(scratch, String(iteration));
    try {
      for (const [i, layer] of this.#built!.layers.entries()) {
        const dest = join(base, String(i));
        await mkdir(dest, { recursive: true });
        await run('tar', ['-xzf', layer.file, '-C', dest], { timeoutMs: PULL_DEADLINE_MS });
      }
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  }
}

export const pull = new PullBenchmark('pull', `PullImage of a ~200 MB ${LAYERS}-layer gzip image from a local registry vs GNU tar -xzf of its layers`,
  () => Array.from({ length: LAYERS }, (_, i) => benchLayer(i)));
export const pullSmallFiles = new PullBenchmark('pull-small-files', 'PullImage of one gzip layer of 20,000 files of 1-8 KiB vs GNU tar -xzf of it', () => [smallFilesLayer()]);
