/**
 * Loads the CRI contract (proto/cri/api.proto) once. The loader options decide what
 * every handler sees: snake_case field names as in the proto, int64 as decimal strings
 * (nanosecond timestamps exceed 2^53), enums as numbers, unset message fields as null so
 * presence is visible (an absent seccomp profile differs from an empty one).
 */
import { fileURLToPath } from 'node:url';
import { loadPackageDefinition, type GrpcObject, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../generated/cri/api.ts';

export const PROTO_PATH = fileURLToPath(new URL('../../../proto/cri/api.proto', import.meta.url));

export const LOADER_OPTIONS: Options = { keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true };

/** The two CRI service definitions, loaded from the vendored proto. */
export function loadCri(): { runtime: ServiceDefinition; image: ServiceDefinition; grpc: ProtoGrpcType } {
  const def = loadSync(PROTO_PATH, LOADER_OPTIONS);
  const grpc = loadPackageDefinition(def) as unknown as ProtoGrpcType;
  const v1 = (loadPackageDefinition(def)).runtime as GrpcObject;
  const ns = v1.v1 as GrpcObject;
  const runtime = (ns.RuntimeService as unknown as { service: ServiceDefinition }).service;
  const image = (ns.ImageService as unknown as { service: ServiceDefinition }).service;
  return { runtime, image, grpc };
}
