/**
 * The composition root: the only place services are constructed and wired (DESIGN
 * convention 5). Everything a service needs arrives through its deps object.
 */
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.ts';
import type { CheckResult } from '../host/checks.ts';
import { findExecutable } from '../host/checks.ts';
import { RuntimeInfoService, type RuntimeHandlerInfo } from '../runtime/info-service.ts';
import { CniConfDirProbe } from './cni-conf-probe.ts';
import type { Services } from './services.ts';

export interface ComposeInput {
  loaded: LoadedConfig;
  log: Logger;
  version: string;
  hostChecks: readonly CheckResult[];
}

/** A composed daemon: the services plus what must be started and closed with them. */
export interface Composed {
  services: Services;
  /** Start-up work (recovery) to finish before RPCs are served. */
  start(): Promise<void>;
  close(): Promise<void>;
}

async function availableHandlers(loaded: LoadedConfig): Promise<RuntimeHandlerInfo[]> {
  const out: RuntimeHandlerInfo[] = [];
  for (const [name, h] of Object.entries(loaded.config.runtime.handlers)) {
    if (!(await findExecutable(h.path))) continue;
    const info = { name, recursiveReadOnlyMounts: false, userNamespaces: false };
    out.push(info);
    // The default handler is also reachable as "" (a pod that names no RuntimeClass).
    if (name === loaded.config.runtime.default_handler) out.unshift({ ...info, name: '' });
  }
  return out;
}

export async function compose(input: ComposeInput): Promise<Composed> {
  const { config, sources } = input.loaded;
  const runtimeInfo = new RuntimeInfoService({
    config,
    configSources: sources,
    version: input.version,
    network: new CniConfDirProbe(config.cni.conf_dir),
    hostChecks: input.hostChecks,
    handlers: await availableHandlers(input.loaded),
  });
  return {
    services: { runtimeInfo },
    async start() {
      await runtimeInfo.load();
    },
    async close() {
      // Nothing to release yet; services with background loops close here.
    },
  };
}
