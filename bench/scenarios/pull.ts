/**
 * Pull throughput (issue: image service, benchmark): a ~200 MB, 5-layer gzip image, built
 * offline with a mix of incompressible data, text-like data and many small files, served
 * by a local registry the scenario starts. Each iteration times a full PullImage (the
 * image removed in between, so every layer is fetched, verified, decompressed and
 * extracted again) and, in the same run, GNU `tar -xzf` of the same five layer blobs one
 * after another into a temp dir. Target: pull / tar ≤ 1.0.
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

/** What run.ts starts before the daemon for a scenario that needs it: here, the registry. */
export interface DaemonSetup {
  registriesConf?: string;
  close(): Promise<void>;
}

class PullBenchmark implements Scenario {
  readonly name = 'pull';
  readonly describe = `PullImage of a ~200 MB ${LAYERS}-layer gzip image from a local registry vs GNU tar -xzf of its layers`;
  #registry: RunningRegistry | undefined;
  #built: BuiltImage | undefined;
  #image: PushedImage | undefined;
  /** Per endpoint: its tar scratch dir and the wall times since beginTimed(). */
  readonly #state = new PerEndpoint<{ scratch: string; pulls: number[]; tars: number[] }>('pull');

  /** Builds (cached on disk after the first run) and pushes the image; called before the daemon starts. */
  async beforeDaemon(): Promise<DaemonSetup> {
    const t0 = Date.now();
    this.#built = await buildImage({ layers: Array.from({ length: LAYERS }, (_, i) => benchLayer(i)), config: { Cmd: ['sh'] } });
    this.#registry = await startRegistry();
    this.#image = await pushImage(this.#registry, 'critter-bench/pull', 'latest', this.#built);
    const mb = (this.#image.layersSize / 1e6).toFixed(1);
    console.log(`pull benchmark image: ${LAYERS} layers, ${mb} MB compressed, built and pushed in ${Date.now() - t0} ms`);
    const registry = this.#registry;
    return { registriesConf: registriesConfText(registry.host), close: () => registry.stop() };
  }

  async setup(client: CriClient): Promise<void> {
    if (!this.#image) throw new Error('the pull scenario needs run.ts to call beforeDaemon() first');
    this.#state.set(client, { scratch: await mkdtemp(join(tmpdir(), 'critter-bench-tar-')), pulls: [], tars: [] });
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
      await time('tar -xzf (5 layers)', () => this.#untarAll(state.scratch, i));
      const tarMs = Number(process.hrtime.bigint() - t1) / 1e6;
      state.pulls.push(pullMs);
      state.tars.push(tarMs);
    }
  }

  beginTimed(client: CriClient): void {
    const state = this.#state.get(client);
    state.pulls = [];
    state.tars = [];
  }

  summary(client: CriClient): string {
    const { pulls, tars } = this.#state.get(client);
    const p = quantile(pulls, 0.5);
    const t = quantile(tars, 0.5);
    return `pull wall times ms: ${pulls.map((x) => x.toFixed(0)).join(', ')}; tar wall times ms: ${tars.map((x) => x.toFixed(0)).join(', ')}; ` +
      `median pull ${p.toFixed(0)} ms, median tar ${t.toFixed(0)} ms, ratio pull/tar ${(p / t).toFixed(2)} (target <= 1.0)`;
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

export const pull = new PullBenchmark();
