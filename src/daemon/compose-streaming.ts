/**
 * The streaming part of the composition: the HTTP(S) streaming server (config
 * `streaming.*`), its backend on real containers, and the service the Exec/Attach/
 * PortForward handlers call. Started once the daemon is ready, closed on shutdown (which
 * ends every live session and kills its exec'd processes).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { InvalidArgumentError } from '../lib/errors.ts';
import { PortForwarder } from '../network/port-forward.ts';
import { socketDirsFor } from './socket-dirs.ts';
import { runtimeRootFor } from '../oci/conmon-runtime.ts';
import type { OciRuntime } from '../oci/runtime.ts';
import { StreamingServer } from '../streaming/server.ts';
import { ContainerStreamingBackend } from '../container/stream/backend.ts';
import { ContainerStreamingService } from '../container/stream/service.ts';
import type { StreamRuntime, StreamTargets } from '../container/stream/targets.ts';

export interface StreamingCompositionInput {
  config: Config;
  log: Logger;
  targets: StreamTargets;
  /** The container service's OCI runtime per handler (attach socket, ctl FIFO); null until containers exist. */
  ociRuntime: ((handler: string) => Pick<OciRuntime, 'attachSocketPath' | 'ctlFifoPath'>) | null;
}

export interface ComposedStreaming {
  service: ContainerStreamingService;
  server: StreamingServer;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function composeStreaming(input: StreamingCompositionInput): Promise<ComposedStreaming> {
  const { config, log } = input;
  const s = config.streaming;
  if ((s.tls_cert === '') !== (s.tls_key === '')) {
    throw new InvalidArgumentError(`streaming.tls_cert and streaming.tls_key must be set together (tls_cert=${JSON.stringify(s.tls_cert)}, tls_key=${JSON.stringify(s.tls_key)})`);
  }
  const tls = s.tls_cert !== '' ? { cert: await readFile(s.tls_cert), key: await readFile(s.tls_key) } : undefined;
  const runtimes = (handler: string): StreamRuntime => {
    const name = handler === '' ? config.runtime.default_handler : handler;
    const h = config.runtime.handlers[name];
    if (h === undefined) throw new InvalidArgumentError(`runtime handler "${name}" is not configured`);
    if (input.ociRuntime === null) throw new InvalidArgumentError(`runtime handler "${name}" has no container runtime in this daemon`);
    return {
      oci: input.ociRuntime(name),
      exec: { handler: name, binary: h.path, root: h.root || runtimeRootFor(config.run_root, name), systemdCgroup: config.cgroup_driver === 'systemd' },
    };
  };
  const backend = new ContainerStreamingBackend({
    targets: input.targets,
    runtimes,
    portForwarder: new PortForwarder({ socketDir: socketDirsFor(config.run_root).portForward }),
    scratchDir: join(config.run_root, 'streaming'),
  });
  const server = new StreamingServer({
    log,
    backend,
    address: s.address,
    port: s.port,
    tls,
    streamIdleTimeoutMs: s.idle_timeout_seconds * 1000,
    streamCreationTimeoutMs: s.creation_timeout_seconds * 1000,
  });
  return {
    service: new ContainerStreamingService({ server, targets: input.targets }),
    server,
    start: () => server.start(),
    close: () => server.close(),
  };
}
