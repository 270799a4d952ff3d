/**
 * The configured pause image (`runtime.pause_image`, DESIGN "Pod sandboxes"): the
 * alternative to catatonit for users who want containerd's model, where the infra process
 * of a pod sharing one PID namespace runs an image (registry.k8s.io/pause runs `/pause`
 * as 65535). The image is pulled through the image service when absent, with the daemon's
 * registries.conf and no credentials, as containerd does for its sandbox image.
 */
import type { Op } from '../lib/op.ts';
import { FailedPreconditionError } from '../lib/errors.ts';

/** What the infra process runs, taken from the image config. */
export interface InfraImageProcess {
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
}

export interface PreparedInfraImage {
  imageId: string;
  /** The image's layer dirs, top first, for an overlay mount. */
  lowerDirs: string[];
  process: InfraImageProcess;
}

/** The image record fields this module reads. */
interface StoredImage { id: string; topLayer: string }

export interface PauseImageDeps {
  /** The configured reference, e.g. "registry.k8s.io/pause:3.10". */
  reference: string;
  images: {
    find(spec: string): StoredImage | undefined;
    pull(op: Op, image: string): Promise<StoredImage>;
    config(id: string): Promise<Record<string, unknown>>;
  };
  /** The layer dirs of a top layer's chain, top first. */
  lowerDirs(topLayer: string): string[];
}

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class PauseImage {
  readonly #deps: PauseImageDeps;

  constructor(deps: PauseImageDeps) {
    this.#deps = deps;
  }

  get reference(): string {
    return this.#deps.reference;
  }

  /** The id of the stored pause image, or undefined when it is not stored. */
  storedId(): string | undefined {
    return this.#deps.images.find(this.#deps.reference)?.id;
  }

  /**
   * Finds the image (pulling it when absent) and reads what the infra process runs.
   * @throws the pull's error; FailedPreconditionError when the image cannot be run
   */
  async prepare(op: Op): Promise<PreparedInfraImage> {
    const ref = this.#deps.reference;
    let image = this.#deps.images.find(ref);
    if (!image) {
      op.log.info({ image: ref }, 'Pulling the pause image (runtime.pause_image) for a pod infra process');
      image = await this.#deps.images.pull(op, ref);
    }
    const lowerDirs = this.#deps.lowerDirs(image.topLayer);
    if (lowerDirs.length === 0) throw new FailedPreconditionError(`runtime.pause_image "${ref}" (${image.id}) has no layers to run`);
    const process = infraProcessFromImageConfig(ref, await this.#deps.images.config(image.id));
    return { imageId: image.id, lowerDirs, process };
  }
}

/**
 * Entrypoint + Cmd, Env, WorkingDir and a numeric User ("uid" or "uid:gid") of an image
 * config. A user name would need the image's /etc/passwd, which pause images do not ship;
 * it is refused rather than run as root.
 * @throws FailedPreconditionError naming the reference
 */
export function infraProcessFromImageConfig(ref: string, imageConfig: Record<string, unknown>): InfraImageProcess {
  const cfg = (imageConfig.config ?? {}) as { Entrypoint?: unknown; Cmd?: unknown; Env?: unknown; WorkingDir?: unknown; User?: unknown };
  const args = [...strings(cfg.Entrypoint), ...strings(cfg.Cmd)];
  if (args.length === 0) throw new FailedPreconditionError(`runtime.pause_image "${ref}" has neither Entrypoint nor Cmd in its config`);
  const env = strings(cfg.Env);
  const user = typeof cfg.User === 'string' ? cfg.User : '';
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  if (user !== '' && !m) throw new FailedPreconditionError(`runtime.pause_image "${ref}" has User "${user}": only a numeric uid[:gid] is supported for the infra process`);
  const uid = m ? Number(m[1]) : 0;
  // A bare uid runs with gid 0, as Docker does for a uid absent from /etc/passwd
  // (registry.k8s.io/pause says "65535:65535").
  const gid = m?.[2] !== undefined ? Number(m[2]) : 0;
  return {
    args,
    env: env.length > 0 ? env : [DEFAULT_PATH],
    cwd: typeof cfg.WorkingDir === 'string' && cfg.WorkingDir !== '' ? cfg.WorkingDir : '/',
    uid,
    gid,
  };
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
