/**
 * What every conformance area needs: the test registry with the standard images, and a
 * daemon on a private CNI network whose registries.conf rewrites public names to it.
 */
import { startRegistry, type RunningRegistry } from '../../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../../fixtures/standard-images.ts';
import { registriesConfText } from '../../fixtures/registries-conf.ts';
import { startPodDaemon, type PodDaemon } from '../../integration/helpers/pod-network.ts';

export interface CritestSuite {
  pd: PodDaemon;
  registry: RunningRegistry;
  imgs: StandardTestImages;
}

/** Starts registry, images and daemon; `configYaml` goes to the daemon. */
export async function startCritestSuite(opts: { configYaml?: string } = {}): Promise<CritestSuite> {
  const registry = await startRegistry();
  try {
    const imgs = await standardTestImages(registry);
    const pd = await startPodDaemon({ registriesConf: registriesConfText(registry.host), configYaml: opts.configYaml });
    return { pd, registry, imgs };
  } catch (err) {
    await registry.stop();
    throw err;
  }
}

/** Removes pods, stops the daemon and the registry; safe on a half-started suite. */
export async function stopCritestSuite(s: Partial<CritestSuite>): Promise<void> {
  try {
    await s.pd?.close();
  } finally {
    await s.registry?.stop();
  }
}
