/**
 * Builds the admin API the daemon's own CLI talks to (`critter pull`, `critter images
 * import`): a root-only socket in the run root, served from the same ImageService and
 * Store as CRI. Started once the daemon is ready, closed first on shutdown.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { ImageService } from '../image/image-service.ts';
import type { Store } from '../storage/store.ts';
import { importImageArchive } from '../image/import.ts';
import { AdminServer } from '../admin/server.ts';
import { ADMIN_SOCKET_NAME, type AdminStatus } from '../admin/protocol.ts';
import { prepareSocketPath } from './socket.ts';

export interface ComposedAdmin {
  start(): Promise<void>;
  close(): Promise<void>;
}

/** `<run_root>/admin.sock`: where `critter pull` finds the daemon. */
function adminSocketPath(runRoot: string): string {
  return join(runRoot, ADMIN_SOCKET_NAME);
}

export function composeAdmin(config: Config, log: Logger, images: ImageService, store: Store, status?: () => Promise<AdminStatus>): ComposedAdmin {
  // Under the storage root so an unpacked archive is on the store's filesystem.
  const stagingDir = join(config.root, 'import-staging');
  const server = new AdminServer({
    socketPath: adminSocketPath(config.run_root),
    log,
    images,
    importArchive: (op, path) => importImageArchive(op, { store, stagingDir }, path),
    prepareSocketPath,
    ...(status ? { status } : {}),
  });
  return {
    async start() {
      // What an import interrupted by a crash left unpacked.
      await rm(stagingDir, { recursive: true, force: true });
      await server.start();
    },
    close: () => server.close(),
  };
}
