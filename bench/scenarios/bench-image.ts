/**
 * The busybox image the container benchmarks run, pushed to a registry of their own. Its
 * applets are symlinks: the test rootfs's hard-link entries carry mode 0644 in their tar
 * headers, and containerd applies a hard link's header mode to the shared inode, leaving
 * /bin/busybox not executable there (--compare). PATH is set as real images do: containerd
 * adds none of its own.
 */
import { startRegistry } from '../../test/fixtures/registry.ts';
import { registriesConfText } from '../../test/fixtures/registries-conf.ts';
import { buildImage, busyboxRootfsLayer, DEFAULT_PATH_ENV, pushImage, symlink, type PushedImage } from '../../test/fixtures/image-builder.ts';

export interface BenchImage {
  image: PushedImage;
  /** What beforeDaemon() answers: the registry's registries.conf lines and how to stop it. */
  setup: { registriesConf: string; close(): Promise<void> };
}

export async function pushBenchBusybox(): Promise<BenchImage> {
  const base = await busyboxRootfsLayer();
  const layer = { ...base, entries: base.entries.map((e) => (e.type === 'hardlink' ? symlink(e.path, 'busybox') : e)) };
  const built = await buildImage({ layers: [layer], config: { Cmd: ['sh'], Env: [DEFAULT_PATH_ENV] } });
  const registry = await startRegistry();
  const image = await pushImage(registry, 'critter-bench/busybox', 'latest', built);
  return { image, setup: { registriesConf: registriesConfText(registry.host), close: () => registry.stop() } };
}

/**
 * Base of the scenarios that run this image: beforeDaemon() pushes it before the daemon
 * starts (its registries.conf lines go to the daemon), `image` hands it out afterwards.
 */
export abstract class BenchBusyboxScenario {
  abstract readonly name: string;
  #image: PushedImage | undefined;

  async beforeDaemon(): Promise<BenchImage['setup']> {
    const pushed = await pushBenchBusybox();
    this.#image = pushed.image;
    return pushed.setup;
  }

  protected get image(): PushedImage {
    if (!this.#image) throw new Error(`the ${this.name} scenario needs run.ts to call beforeDaemon() first`);
    return this.#image;
  }
}
