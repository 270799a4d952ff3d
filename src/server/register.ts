/**
 * Binds RuntimeService and ImageService to a grpc-js Server. Every method of both
 * services is registered: from the table when built, else as UNIMPLEMENTED naming the RPC.
 */
import type { Server, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { unary, serverStream, type AdaptDeps } from './adapt.ts';
import type { RpcEntry } from './rpc-table.ts';
import { UnimplementedError } from '../lib/errors.ts';
import { encodeOnce } from './list-answer-cache.ts';

/** Builds the implementation object for one service definition. */
function implement(def: ServiceDefinition, table: Record<string, RpcEntry>, deps: AdaptDeps): UntypedServiceImplementation {
  const impl: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(def)) {
    const entry = table[name];
    if (entry?.kind === 'unary' && !method.responseStream) {
      impl[name] = unary(name, deps, entry.fn) as never;
    } else if (entry?.kind === 'stream' && method.responseStream) {
      impl[name] = serverStream(name, deps, entry.fn) as never;
    } else if (method.responseStream) {
      impl[name] = serverStream(name, deps, () => { throw unimplemented(name); }) as never;
    } else {
      impl[name] = unary(name, deps, async () => { throw unimplemented(name); }) as never;
    }
  }
  return impl;
}

function unimplemented(rpc: string): UnimplementedError {
  return new UnimplementedError(`${rpc} is not implemented by critter yet`);
}

/** The definition with the serializer of every `encodeOnce` entry wrapped (list-answer-cache.ts). */
function withEncodeOnce(def: ServiceDefinition, table: Record<string, RpcEntry>): ServiceDefinition {
  const out: Record<string, ServiceDefinition[string]> = { ...def };
  for (const [name, method] of Object.entries(def)) {
    const entry = table[name];
    if (entry?.kind === 'unary' && entry.encodeOnce) out[name] = { ...method, responseSerialize: encodeOnce(method.responseSerialize as (v: unknown) => Buffer) };
  }
  return out as ServiceDefinition;
}

/** Adds both CRI services to `server`. Returns the RPC names registered, for the log. */
export function registerCri(server: Server, defs: { runtime: ServiceDefinition; image: ServiceDefinition }, table: Record<string, RpcEntry>, deps: AdaptDeps): string[] {
  server.addService(withEncodeOnce(defs.runtime, table), implement(defs.runtime, table, deps));
  server.addService(withEncodeOnce(defs.image, table), implement(defs.image, table, deps));
  return [...Object.keys(defs.runtime), ...Object.keys(defs.image)];
}
