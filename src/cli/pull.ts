/**
 * `critter pull IMAGE [--creds USER:PASS]`: asks the running daemon to pull IMAGE (through
 * the same image service the kubelet uses) and shows each layer's progress — bytes,
 * total, rate — redrawn in place on a terminal, as plain lines otherwise. Prints the
 * image id last and exits 0, or prints the daemon's error and exits 1.
 */
import { join } from 'node:path';
import { AdminClient, AdminError } from '../admin/client.ts';
import { ADMIN_SOCKET_NAME, ROUTES, type PullEvent, type PullRequestBody } from '../admin/protocol.ts';
import { InvalidArgumentError, describeError } from '../lib/errors.ts';

export const PULL_HELP = `Usage: critter pull IMAGE [--creds USER:PASSWORD] [options]

Pulls IMAGE into the running daemon's store, showing a progress bar per layer.
IMAGE may be a short name (resolved through registries.conf), name:tag or name@digest.
A pull identical to one already running (from the kubelet, say) joins it.
Prints the image id when done; exits 1 with the daemon's error otherwise.

  --creds USER:PASSWORD    registry credentials (sent to the daemon over its root-only socket)
  --run-root DIR           the daemon's run root, where its admin.sock is (default from the config)
  --config FILE            read run_root from this config file
  -h, --help               this help
`;

export interface PullCommand {
  image: string;
  creds: string | undefined;
  runRoot: string;
  out: NodeJS.WriteStream;
}

export function adminSocketIn(runRoot: string): string {
  return join(runRoot, ADMIN_SOCKET_NAME);
}

/** `user:pass` → AuthConfig fields (split at the first colon, as docker does). */
function parseCreds(creds: string): { username: string; password: string } {
  const colon = creds.indexOf(':');
  if (colon <= 0) throw new InvalidArgumentError('--creds: want USER:PASSWORD');
  return { username: creds.slice(0, colon), password: creds.slice(colon + 1) };
}

export async function runPull(cmd: PullCommand): Promise<number> {
  const body: PullRequestBody = { image: cmd.image, ...(cmd.creds !== undefined ? { auth: parseCreds(cmd.creds) } : {}) };
  const client = new AdminClient({ socketPath: adminSocketIn(cmd.runRoot) });
  const view = new ProgressView({ out: cmd.out, tty: cmd.out.isTTY === true });
  const cancel = new AbortController();
  const onSigint = (): void => cancel.abort(new Error('interrupted'));
  process.once('SIGINT', onSigint);
  try {
    for await (const e of client.ndjson<PullEvent>(ROUTES.pull, body, cancel.signal)) {
      if ('layer' in e) {
        view.update(e);
      } else if ('done' in e) {
        view.finish();
        cmd.out.write(`${e.imageId}\n`);
        return 0;
      } else {
        view.finish();
        process.stderr.write(`critter pull: ${e.error} (${e.code})\n`);
        return 1;
      }
    }
    view.finish();
    process.stderr.write('critter pull: the daemon ended the answer without a result\n');
    return 1;
  } catch (err) {
    view.finish();
    if (cancel.signal.aborted) {
      process.stderr.write('critter pull: interrupted; the daemon cancels the pull unless another caller shares it\n');
      return 130;
    }
    const code = err instanceof AdminError ? ` (${err.adminCode})` : '';
    process.stderr.write(`critter pull: ${describeError(err)}${code}\n`);
    return 1;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

type LayerEvent = Extract<PullEvent, { layer: string }>;

interface LayerLine { event: LayerEvent; firstAt: number; firstBytes: number; printedQuarter: number }

const BAR_WIDTH = 30;

/** The per-layer display: one line per layer, redrawn in place on a TTY. */
class ProgressView {
  readonly #out: NodeJS.WritableStream;
  readonly #tty: boolean;
  readonly #layers = new Map<string, LayerLine>();
  #drawnLines = 0;
  readonly #now: () => number;

  constructor(deps: { out: NodeJS.WritableStream; tty: boolean; now?: () => number }) {
    this.#out = deps.out;
    this.#tty = deps.tty;
    this.#now = deps.now ?? Date.now;
  }

  update(e: LayerEvent): void {
    const prev = this.#layers.get(e.layer);
    const line = prev ?? { event: e, firstAt: this.#now(), firstBytes: e.bytes, printedQuarter: -1 };
    const stateChanged = prev?.event.state !== e.state;
    line.event = e;
    this.#layers.set(e.layer, line);
    if (this.#tty) {
      this.#redraw();
      return;
    }
    // Plain output: a line when the state changes or another quarter of the layer is in.
    const quarter = e.total > 0 ? Math.floor((4 * e.bytes) / e.total) : 0;
    if (stateChanged || (e.state === 'downloading' && quarter > line.printedQuarter)) {
      line.printedQuarter = quarter;
      this.#out.write(`${this.#format(line)}\n`);
    }
  }

  finish(): void {
    if (this.#tty) this.#redraw();
  }

  #redraw(): void {
    let text = this.#drawnLines > 0 ? `\x1b[${this.#drawnLines}A` : '';
    for (const line of this.#layers.values()) text += `\r\x1b[2K${this.#format(line)}\n`;
    this.#drawnLines = this.#layers.size;
    this.#out.write(text);
  }

  #format(line: LayerLine): string {
    const { layer, state, bytes, total } = line.event;
    const id = layer.replace(/^sha256:/, '').slice(0, 12);
    const fraction = total > 0 ? Math.min(1, bytes / total) : state === 'done' || state === 'exists' ? 1 : 0;
    const filled = Math.round(fraction * BAR_WIDTH);
    const bar = `[${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? (fraction < 1 ? '>' : '=') : ''}${' '.repeat(BAR_WIDTH - filled)}]`;
    const seconds = (this.#now() - line.firstAt) / 1000;
    const rate = state === 'downloading' && seconds > 0.2 ? `  ${formatBytes((bytes - line.firstBytes) / seconds)}/s` : '';
    return `${id}  ${state.padEnd(11)} ${bar} ${formatBytes(bytes).padStart(9)} / ${formatBytes(total)}${rate}`;
  }
}

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${Math.round(v)} B` : `${v.toFixed(1)} ${units[u]}`;
}
