/**
 * `critter status`: a short human summary of the running daemon, read through its admin
 * socket: version, readiness conditions, pods and containers by state, images and the
 * disk they use.
 */
import { AdminClient, AdminError } from '../admin/client.ts';
import { ROUTES, type AdminStatus } from '../admin/protocol.ts';
import { describeError } from '../lib/errors.ts';
import { adminSocketIn, formatBytes } from './pull.ts';

export const STATUS_HELP = `Usage: critter status [options]

Prints a summary of the running daemon: version, conditions (RuntimeReady,
NetworkReady), pods and containers by state, images and the disk they use.

  --run-root DIR           the daemon's run root, where its admin.sock is (default from the config)
  --config FILE            read run_root from this config file
  -h, --help               this help
`;

function counts(byState: Record<string, number>): string {
  const entries = Object.entries(byState).sort(([a], [b]) => a.localeCompare(b));
  const total = entries.reduce((n, [, c]) => n + c, 0);
  return entries.length === 0 ? '0' : `${total} (${entries.map(([s, c]) => `${c} ${s}`).join(', ')})`;
}

function formatStatus(s: AdminStatus): string {
  const lines = [`critter ${s.version}`];
  for (const c of s.conditions) lines.push(`${c.type.padEnd(13)} ${c.status ? 'true' : 'false'}${c.status ? '' : `  ${c.reason}: ${c.message}`}`);
  lines.push(`Pods          ${counts(s.pods)}`);
  lines.push(`Containers    ${counts(s.containers)}`);
  lines.push(`Images        ${s.images.count}, ${formatBytes(s.images.bytes)} on disk (${s.images.path})`);
  return lines.join('\n') + '\n';
}

export async function runStatus(cmd: { runRoot: string; out: NodeJS.WritableStream }): Promise<number> {
  const client = new AdminClient({ socketPath: adminSocketIn(cmd.runRoot) });
  try {
    cmd.out.write(formatStatus(await client.json<AdminStatus>('GET', ROUTES.status)));
    return 0;
  } catch (err) {
    const code = err instanceof AdminError ? ` (${err.adminCode})` : '';
    process.stderr.write(`critter status: ${describeError(err)}${code}\n`);
    return 1;
  }
}
