/**
 * The services the gRPC handlers call. Built once by compose.ts; handlers receive only
 * the service they need.
 */
import type { RuntimeInfoService } from '../runtime/info-service.ts';

export interface Services {
  runtimeInfo: RuntimeInfoService;
}
