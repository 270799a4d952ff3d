/**
 * The cheapest RPCs: what the kubelet polls every few seconds. Measures the gRPC path itself.
 * RuntimeConfig is newer than some runtimes compared against (containerd 1.6 answers
 * UNIMPLEMENTED): it is timed only where the endpoint serves it, and the table then shows
 * no ratio for it rather than the whole run failing.
 */
import type { CriClient } from '../../test/integration/helpers/cri-client.ts';
import type { Scenario } from '../harness.ts';

const UNIMPLEMENTED = 12;

async function servesRuntimeConfig(client: CriClient): Promise<boolean> {
  try {
    await client.call('RuntimeConfig', {});
    return true;
  } catch (err) {
    if ((err as { code?: number }).code === UNIMPLEMENTED) return false;
    throw err;
  }
}

export const runtimeInfo: Scenario = {
  name: 'runtime-info',
  describe: 'Version, Status and RuntimeConfig (where served), one after another',
  async run(client, iterations, time) {
    const withRuntimeConfig = await servesRuntimeConfig(client);
    for (let i = 0; i < iterations; i++) {
      await time('Version', () => client.call('Version', {}));
      await time('Status', () => client.call('Status', {}));
      if (withRuntimeConfig) await time('RuntimeConfig', () => client.call('RuntimeConfig', {}));
    }
  },
};
