/** The cheapest RPCs: what the kubelet polls every few seconds. Measures the gRPC path itself. */
import type { Scenario } from '../harness.ts';

export const runtimeInfo: Scenario = {
  name: 'runtime-info',
  describe: 'Version, Status and RuntimeConfig, one after another',
  async run(client, iterations, time) {
    for (let i = 0; i < iterations; i++) {
      await time('Version', () => client.call('Version', {}));
      await time('Status', () => client.call('Status', {}));
      await time('RuntimeConfig', () => client.call('RuntimeConfig', {}));
    }
  },
};
