/**
 * `critter images [list]` and `critter images import FILE`: the daemon's image store,
 * seen and filled through its admin socket. Import loads an OCI image layout archive or a
 * `docker save` archive for nodes without a registry.
 */
import { resolve } from 'node:path';
import { AdminClient, AdminError } from '../admin/client.ts';
import { ROUTES, type AdminImage, type ImportRequestBody } from '../admin/protocol.ts';
import { describeError } from '../lib/errors.ts';
import { adminSocketIn, formatBytes } from './pull.ts';

export const IMAGES_HELP = `Usage: critter images [list] [options]
       critter images import FILE [options]

list      prints the images in the daemon's store (id, size, names)
import    loads FILE into the store: a tar of an OCI image layout (index.json,
          oci-layout, blobs/; names from the org.opencontainers.image.ref.name or
          io.containerd.image.name annotations) or a "docker save" archive
          (manifest.json with RepoTags, Config, Layers). Every layer is verified
          against its digest; a malformed archive is refused and nothing is named.

  --run-root DIR           the daemon's run root, where its admin.sock is (default from the config)
  --config FILE            read run_root from this config file
  -h, --help               this help
`;

export interface ImagesCommand {
  args: string[];
  runRoot: string;
  out: NodeJS.WritableStream;
}

export async function runImages(cmd: ImagesCommand): Promise<number> {
  const client = new AdminClient({ socketPath: adminSocketIn(cmd.runRoot) });
  const [sub = 'list', ...rest] = cmd.args;
  try {
    if (sub === 'list' && rest.length === 0) {
      const { images } = await client.json<{ images: AdminImage[] }>('GET', ROUTES.list);
      cmd.out.write(formatImageTable(images));
      return 0;
    }
    if (sub === 'import' && rest.length === 1) {
      const body: ImportRequestBody = { path: resolve(rest[0]!) };
      const { images } = await client.json<{ images: AdminImage[] }>('POST', ROUTES.import, body);
      for (const img of images) cmd.out.write(`Imported ${img.id}${img.names.length ? ` (${img.names.join(', ')})` : ''}\n`);
      return 0;
    }
    process.stderr.write(`critter images: unknown arguments "${cmd.args.join(' ')}"\n\n${IMAGES_HELP}`);
    return 2;
  } catch (err) {
    const code = err instanceof AdminError ? ` (${err.adminCode})` : '';
    process.stderr.write(`critter images ${sub}: ${describeError(err)}${code}\n`);
    return 1;
  }
}

function formatImageTable(images: readonly AdminImage[]): string {
  const rows = [['IMAGE ID', 'SIZE', 'NAMES']];
  for (const img of images) rows.push([img.id.replace(/^sha256:/, '').slice(0, 12), formatBytes(img.size), img.names.join(', ') || '<none>']);
  const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => `${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]}`).join('\n') + '\n';
}
