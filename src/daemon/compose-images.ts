/**
 * Builds the image side: the layer/image store, registries.conf and the registry client.
 * registries.conf, certificates and the auth file are re-read on SIGHUP (`reload()`):
 * pulls already running keep the client they started with.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { Store } from '../storage/store.ts';
import { RegistriesConf } from '../image/registries-conf.ts';
import { RegistryClient } from '../image/registry/registry-client.ts';
import { ImageService } from '../image/image-service.ts';

export interface ComposedImages {
  images: ImageService;
  store: Store;
  /** Re-reads registries.conf and rebuilds the registry client. */
  reload(config: Config): Promise<void>;
  close(): Promise<void>;
}

async function registryFor(config: Config, log: Logger, version: string): Promise<{ client: RegistryClient; conf: RegistriesConf }> {
  const conf = await RegistriesConf.load(config.image.registries_conf, config.image.registries_conf_dir);
  const client = new RegistryClient({
    log,
    registriesConf: conf,
    authFile: config.image.auth_file === '' ? undefined : config.image.auth_file,
    certsDir: config.image.certs_dir,
    stallTimeoutMs: config.image.stall_timeout_seconds * 1000,
    userAgent: `critter/${version}`,
  });
  return { client, conf };
}

export async function composeImages(config: Config, log: Logger, version: string): Promise<ComposedImages> {
  const store = await Store.open({ root: config.root, log });
  let registry = await registryFor(config, log, version);
  let pinned = [...config.image.pinned_images, ...(config.runtime.pause_image ? [config.runtime.pause_image] : [])];
  const images = new ImageService({
    store,
    registry: () => registry,
    maxParallelLayers: config.image.max_parallel_layers,
    pinned: () => pinned,
  });
  return {
    images,
    store,
    async reload(next) {
      const old = registry;
      registry = await registryFor(next, log, version);
      pinned = [...next.image.pinned_images, ...(next.runtime.pause_image ? [next.runtime.pause_image] : [])];
      // Let pulls that hold the old client finish before closing its connections.
      setTimeout(() => void old.client.close().catch(() => undefined), 60_000).unref();
    },
    async close() {
      await registry.client.close();
    },
  };
}
