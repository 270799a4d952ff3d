/**
 * Running one CNI plugin binary per the CNI spec (SPEC.md "Execution protocol"): the
 * network config on stdin, parameters in CNI_* environment variables, a result or an
 * error object on stdout.
 */
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import type { Op } from '../lib/op.ts';
import { runAllowFailure } from '../lib/exec.ts';
import { CritterError, FailedPreconditionError } from '../lib/errors.ts';
import { tailBounded } from '../lib/shown.ts';

type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS' | 'VERSION';

export interface CniInvocation {
  command: CniCommand;
  /** Plugin type = binary name. */
  type: string;
  /** Full JSON sent on stdin. */
  config: Record<string, unknown>;
  containerId?: string;
  netns?: string;
  ifName?: string;
  /** `K=V;K=V` pairs for CNI_ARGS. */
  args?: Record<string, string>;
}

/** CNI's "try again later" error code (SPEC.md "Error"). */
const CNI_TRY_AGAIN_LATER = 11;

/**
 * A plugin reported an error (SPEC.md "Error"): its code, msg and details are kept. The
 * domain code says what the caller can do: a plugin asking to be retried is UNAVAILABLE,
 * an exhausted address pool RESOURCE_EXHAUSTED, anything else a condition of the host's
 * network set-up (FAILED_PRECONDITION), never critter's own fault.
 */
export class CniPluginError extends CritterError {
  override readonly code: string;
  readonly cniCode: number | undefined;
  constructor(message: string, cniCode: number | undefined, options?: { cause?: unknown }) {
    super(message, options);
    this.cniCode = cniCode;
    this.code = cniCode === CNI_TRY_AGAIN_LATER ? 'CRI_ERR_UNAVAILABLE'
      // host-local and other IPAM plugins: "no IP addresses available in range set".
      : /no (?:IP )?addresses available|no free (?:IP|address)/i.test(message) ? 'CRI_ERR_RESOURCE_EXHAUSTED'
        : 'CRI_ERR_CNI_PLUGIN';
  }
}

export interface CniPluginRunnerDeps {
  /** Searched in order for the plugin binary (CNI_PATH). */
  pluginDirs: readonly string[];
  timeoutMs: number;
}

/** Compares dotted versions: negative, zero or positive like a sort comparator. */
export function compareCniVersions(a: string, b: string): number {
  const pa = a.split('.').map((n) => Number.parseInt(n, 10) || 0);
  const pb = b.split('.').map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export class CniPluginRunner {
  #deps: CniPluginRunnerDeps;

  constructor(deps: CniPluginRunnerDeps) {
    this.#deps = deps;
  }

  /** Finds the plugin binary in the plugin dirs. */
  async find(type: string): Promise<string> {
    if (type.includes('/')) throw new FailedPreconditionError(`CNI plugin type "${type}" must be a bare name`);
    for (const dir of this.#deps.pluginDirs) {
      const file = join(dir, type);
      try {
        await access(file, constants.X_OK);
        return file;
      } catch {
        // not in this dir; try the next one
      }
    }
    // The host lacks what its network config names: a host condition, not a missing CRI object.
    throw new FailedPreconditionError(`CNI plugin "${type}" not found in ${this.#deps.pluginDirs.join(':')}`);
  }

  /** Runs the plugin; resolves with its parsed stdout (or undefined when empty), rejects with CniPluginError. */
  async invoke(op: Op, inv: CniInvocation): Promise<unknown> {
    const file = await this.find(inv.type);
    const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
    env['CNI_COMMAND'] = inv.command;
    env['CNI_PATH'] = this.#deps.pluginDirs.join(':');
    if (inv.containerId !== undefined) env['CNI_CONTAINERID'] = inv.containerId;
    if (inv.netns !== undefined) env['CNI_NETNS'] = inv.netns;
    if (inv.ifName !== undefined) env['CNI_IFNAME'] = inv.ifName;
    if (inv.args) env['CNI_ARGS'] = Object.entries(inv.args).map(([k, v]) => `${k}=${v}`).join(';');
    const result = await runAllowFailure(file, [], {
      signal: op.signal, timeoutMs: this.#deps.timeoutMs, env, input: JSON.stringify(inv.config),
    });
    const what = `CNI plugin ${inv.type} ${inv.command}${inv.containerId ? ` for ${inv.containerId}` : ''}`;
    const parsed = parseJson(result.stdout);
    if (result.exitCode !== 0) {
      const e = parsed as { code?: number; msg?: string; details?: string } | undefined;
      // Bounded (issue 12 class 4): the plugin's last words, not all it printed.
      const detail = tailBounded(e?.msg ? [e.msg, e.details].filter(Boolean).join(': ') : (result.stderr.trim() || result.stdout.trim() || `exit status ${result.exitCode}`), 4096);
      throw new CniPluginError(`${what} failed: ${detail}${e?.code !== undefined ? ` (code ${e.code})` : ''}`, e?.code);
    }
    return parsed;
  }
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
