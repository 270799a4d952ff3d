/**
 * Process argv, environment, working directory and oom_score_adj for CreateContainer.
 */
import type { ContainerConfig__Output } from '../../generated/cri/runtime/v1/ContainerConfig.ts';
import type { KeyValue__Output } from '../../generated/cri/runtime/v1/KeyValue.ts';
import { InvalidArgumentError } from '../../lib/errors.ts';
import type { ImageConfig } from './inputs.ts';

/** The PATH every container starts with; the image's Env may replace it (containerd WithDefaultPathEnv). */
export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Docker's entrypoint/cmd override rules (cri-api.md §4 item 14; containerd WithProcessArgs,
 * from moby daemon/commit.go): `command` replaces the image Entrypoint and drops its Cmd;
 * `args` alone replaces only Cmd. An image Entrypoint of `[""]` means "no entrypoint".
 */
export function buildArgs(command: readonly string[], args: readonly string[], image: ImageConfig): string[] {
  let entry = [...command];
  let rest = [...args];
  if (entry.length === 0) {
    if (rest.length === 0) rest = [...(image.Cmd ?? [])];
    const imageEntrypoint = image.Entrypoint ?? [];
    if (!(imageEntrypoint.length === 1 && imageEntrypoint[0] === '')) entry = [...imageEntrypoint];
  }
  const argv = [...entry, ...rest];
  if (argv.length === 0) {
    throw new InvalidArgumentError('no command specified: the container config has no command or args and the image has no Entrypoint or Cmd');
  }
  return argv;
}

/**
 * KeyValue.value is `bytes` since CRI 1.37 (was `string`; same wire type), so it decodes as a
 * Buffer or, from older generated code, a string. config.json is JSON text, which cannot
 * carry bytes that are not UTF-8, so those are refused (naming the key, never the value:
 * env values are not logged).
 */
export function decodeEnvValue(kv: Pick<KeyValue__Output, 'key'> & { value: Buffer | Uint8Array | string }): string {
  if (typeof kv.value === 'string') return kv.value;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(kv.value);
  } catch (err) {
    throw new InvalidArgumentError(`env ${JSON.stringify(kv.key)}: value is not valid UTF-8`, { cause: err });
  }
}

function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq === -1 ? entry : entry.slice(0, eq);
}

/**
 * Environment in containerd's order: default PATH, HOSTNAME, the image's Env, then the
 * config's envs. A later entry with the same key replaces the earlier one in place.
 */
export function buildEnv(imageEnv: readonly string[], envs: readonly KeyValue__Output[], hostname: string): string[] {
  const ordered: string[] = [];
  const indexByKey = new Map<string, number>();
  const put = (entry: string): void => {
    const key = envKey(entry);
    const at = indexByKey.get(key);
    if (at === undefined) {
      indexByKey.set(key, ordered.length);
      ordered.push(entry);
    } else {
      ordered[at] = entry;
    }
  };
  put(DEFAULT_PATH_ENV);
  put(`HOSTNAME=${hostname}`);
  for (const entry of imageEnv) put(entry);
  for (const kv of envs) {
    if (kv.key === '') throw new InvalidArgumentError('env entry with an empty key');
    put(`${kv.key}=${decodeEnvValue(kv)}`);
  }
  return ordered;
}

/** The config's working_dir, else the image's WorkingDir, else `/`; runc needs it absolute. */
export function resolveCwd(config: Pick<ContainerConfig__Output, 'working_dir'>, image: ImageConfig): string {
  const cwd = config.working_dir || image.WorkingDir || '/';
  if (!cwd.startsWith('/')) throw new InvalidArgumentError(`working directory ${JSON.stringify(cwd)} is not absolute`);
  return cwd;
}

/**
 * oom_score_adj raised to what the daemon may set (DESIGN "Facts": root lacks
 * CAP_SYS_RESOURCE here, so a negative value would make runc fail; containerd
 * `restrict_oom_score_adj`). Undefined when the config carries no resources.
 */
export function clampOomScoreAdj(requested: string | undefined, minOomScoreAdj: number): number | undefined {
  if (requested === undefined) return undefined;
  const value = Number(requested);
  if (!Number.isInteger(value) || value < -1000 || value > 1000) {
    throw new InvalidArgumentError(`oom_score_adj ${requested} is outside -1000..1000`);
  }
  return Math.max(value, minOomScoreAdj);
}
