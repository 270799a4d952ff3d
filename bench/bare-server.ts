/**
 * A bare grpc-js server for the CRI services: the same proto loading and server options
 * as the daemon, canned answers to Version, Status and RuntimeConfig, UNIMPLEMENTED for
 * the rest. `npm run bench -- --scenario runtime-info --compare bare` runs it as the
 * compared endpoint, so the ratio is what critter adds per call on top of grpc-js itself
 * (its handlers, logging, metrics, validation), measured in the same run.
 * Usage: node bare-server.js <socket path>
 */
import { Server, ServerCredentials, status, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { loadCri } from '../src/server/proto.ts';

const MAX_MESSAGE = 16 * 1024 * 1024;

const CANNED: Record<string, unknown> = {
  Version: { version: '0.1.0', runtime_name: 'bare', runtime_version: '0.1.0', runtime_api_version: 'v1' },
  Status: {
    status: { conditions: [{ type: 'RuntimeReady', status: true, reason: '', message: '' }, { type: 'NetworkReady', status: true, reason: '', message: '' }] },
    info: {},
  },
  RuntimeConfig: { linux: { cgroup_driver: 0 } },
};

function implementation(service: ServiceDefinition): UntypedServiceImplementation {
  const impl: UntypedServiceImplementation = {};
  for (const [name, def] of Object.entries(service)) {
    const canned = CANNED[name];
    const unimplemented = { code: status.UNIMPLEMENTED, details: name };
    impl[name] = (def.responseStream
      ? (call: { emit(e: string, err: unknown): void }) => call.emit('error', unimplemented)
      : (_call: unknown, cb: (err: unknown, res?: unknown) => void) => (canned ? cb(null, canned) : cb(unimplemented))) as UntypedServiceImplementation[string];
  }
  return impl;
}

const socket = process.argv[2];
if (!socket) throw new Error('usage: bare-server <socket path>');
const { runtime, image } = loadCri();
const server = new Server({ 'grpc.max_receive_message_length': MAX_MESSAGE, 'grpc.max_send_message_length': MAX_MESSAGE });
server.addService(runtime, implementation(runtime));
server.addService(image, implementation(image));
server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (err) => {
  if (err) throw err;
  console.log('listening');
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
