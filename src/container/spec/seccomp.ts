/**
 * Seccomp (cri-api.md §4 item 11): which profile applies, and turning a containers-common /
 * Docker profile (archMap, includes/excludes by arch and capability) into OCI
 * `linux.seccomp` for this container's architecture and capabilities (moby
 * profiles/seccomp setupSeccomp, containers/common pkg/seccomp).
 */
import type { LinuxContainerSecurityContext__Output } from '../../generated/cri/runtime/v1/LinuxContainerSecurityContext.ts';
import { _runtime_v1_SecurityProfile_ProfileType as ProfileType } from '../../generated/cri/runtime/v1/SecurityProfile.ts';
import { InvalidArgumentError } from '../../lib/errors.ts';
import type { OciSeccomp, OciSeccompArg, OciSeccompSyscall } from './oci-spec.ts';

export type SeccompChoice =
  | { kind: 'unconfined' }
  | { kind: 'runtime-default' }
  | { kind: 'localhost'; path: string };

const LOCALHOST_PREFIX = 'localhost/';

function localhost(ref: string): SeccompChoice {
  if (ref === '' || !ref.startsWith('/')) {
    throw new InvalidArgumentError(`seccomp Localhost profile ${JSON.stringify(ref)} must be an absolute path`);
  }
  return { kind: 'localhost', path: ref };
}

/** The deprecated `seccomp_profile_path` strings (containerd sputil generateSecurityProfile). */
function fromDeprecatedPath(path: string): SeccompChoice {
  switch (path) {
    case '':
    case 'unconfined':
      return { kind: 'unconfined' };
    case 'runtime/default':
    case 'docker/default':
      return { kind: 'runtime-default' };
    default:
      if (!path.startsWith(LOCALHOST_PREFIX)) throw new InvalidArgumentError(`invalid seccomp profile ${JSON.stringify(path)}`);
      return localhost(path.slice(LOCALHOST_PREFIX.length));
  }
}

/**
 * An ABSENT `seccomp` message (and no deprecated path) means unconfined, containerd's
 * `unset_seccomp_profile` default; a PRESENT message with the zero profile_type means
 * RuntimeDefault. Privileged containers are never filtered.
 */
export function chooseSeccomp(sc: LinuxContainerSecurityContext__Output | null): SeccompChoice {
  if (sc === null || sc.privileged) return { kind: 'unconfined' };
  const profile = sc.seccomp;
  if (profile === null) return fromDeprecatedPath(sc.seccomp_profile_path);
  if (profile.profile_type !== ProfileType.Localhost && profile.localhost_ref !== '') {
    throw new InvalidArgumentError('seccomp localhost_ref may only be set with profile_type Localhost');
  }
  switch (profile.profile_type) {
    case ProfileType.RuntimeDefault:
      return { kind: 'runtime-default' };
    case ProfileType.Unconfined:
      return { kind: 'unconfined' };
    case ProfileType.Localhost:
      return localhost(profile.localhost_ref.startsWith(LOCALHOST_PREFIX) ? profile.localhost_ref.slice(LOCALHOST_PREFIX.length) : profile.localhost_ref);
    default:
      throw new InvalidArgumentError(`unknown seccomp profile_type ${String(profile.profile_type)}`);
  }
}

/** The file the caller must read and pass as `localhostSeccompProfile`, if any. */
export function seccompLocalhostPath(sc: LinuxContainerSecurityContext__Output | null): string | undefined {
  const choice = chooseSeccomp(sc);
  return choice.kind === 'localhost' ? choice.path : undefined;
}

/**
 * Node's process.arch → the names profiles use for it: archMap entries use libseccomp's
 * SCMP_ARCH_*, while `includes/excludes.arches` use Go's GOARCH with 386 spelled "x86"
 * (moby profiles/seccomp; containers-common seccomp.json has e.g. arch_prctl for
 * ["amd64", "x32"]). Both spellings are accepted in includes/excludes.
 */
const ARCH_NAMES: Record<string, { scmp: string; go: string }> = {
  x64: { scmp: 'SCMP_ARCH_X86_64', go: 'amd64' },
  ia32: { scmp: 'SCMP_ARCH_X86', go: 'x86' },
  arm64: { scmp: 'SCMP_ARCH_AARCH64', go: 'arm64' },
  arm: { scmp: 'SCMP_ARCH_ARM', go: 'arm' },
  ppc64: { scmp: 'SCMP_ARCH_PPC64LE', go: 'ppc64le' },
  s390x: { scmp: 'SCMP_ARCH_S390X', go: 's390x' },
  riscv64: { scmp: 'SCMP_ARCH_RISCV64', go: 'riscv64' },
  mips64el: { scmp: 'SCMP_ARCH_MIPSEL64', go: 'mips64le' },
  loong64: { scmp: 'SCMP_ARCH_LOONGARCH64', go: 'loong64' },
};

interface Filter {
  arches?: string[];
  caps?: string[];
}

interface SourceSyscall {
  name?: string;
  names?: string[];
  action?: string;
  errnoRet?: number;
  args?: OciSeccompArg[] | null;
  includes?: Filter;
  excludes?: Filter;
}

interface SourceProfile {
  defaultAction?: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures?: string[] }[];
  flags?: string[];
  syscalls?: SourceSyscall[];
}

function keep(call: SourceSyscall, arch: { scmp: string; go: string }, caps: ReadonlySet<string>): boolean {
  const inc = call.includes ?? {};
  const exc = call.excludes ?? {};
  const isNative = (a: string): boolean => a === arch.go || a === arch.scmp;
  if (inc.arches !== undefined && inc.arches.length > 0 && !inc.arches.some(isNative)) return false;
  if (exc.arches !== undefined && exc.arches.some(isNative)) return false;
  if (inc.caps !== undefined && inc.caps.some((c) => !caps.has(c))) return false;
  if (exc.caps !== undefined && exc.caps.some((c) => caps.has(c))) return false;
  return true;
}

/**
 * Converts a containers-common/Docker profile for one container. `arch` is Node's
 * process.arch; `capabilities` is the container's bounding set (CAP_ names). A profile
 * already in OCI form (architectures, no includes) passes through unchanged in substance.
 */
export function toOciSeccomp(source: unknown, arch: string, capabilities: readonly string[], what: string): OciSeccomp {
  if (typeof source !== 'object' || source === null || typeof (source as SourceProfile).defaultAction !== 'string') {
    throw new InvalidArgumentError(`seccomp profile ${what} is not a seccomp profile (no defaultAction)`);
  }
  const profile = source as SourceProfile;
  const native = ARCH_NAMES[arch];
  if (native === undefined) throw new InvalidArgumentError(`no seccomp architecture known for ${JSON.stringify(arch)}`);
  const caps = new Set(capabilities);
  const out: OciSeccomp = { defaultAction: profile.defaultAction ?? '' };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;
  if (profile.archMap !== undefined && profile.archMap.length > 0) {
    const entry = profile.archMap.find((a) => a.architecture === native.scmp);
    out.architectures = entry === undefined ? [] : [entry.architecture, ...(entry.subArchitectures ?? [])];
  } else if (profile.architectures !== undefined) {
    out.architectures = [...profile.architectures];
  }
  if (profile.flags !== undefined && profile.flags.length > 0) out.flags = [...profile.flags];
  const syscalls: OciSeccompSyscall[] = [];
  for (const call of profile.syscalls ?? []) {
    if (!keep(call, native, caps)) continue;
    const names = call.names ?? (call.name !== undefined ? [call.name] : []);
    if (names.length === 0 || call.action === undefined) continue;
    const converted: OciSeccompSyscall = { names: [...names], action: call.action };
    if (call.errnoRet !== undefined) converted.errnoRet = call.errnoRet;
    if (call.args !== undefined && call.args !== null && call.args.length > 0) {
      converted.args = call.args.map((a) => ({ index: a.index, value: a.value, valueTwo: a.valueTwo ?? 0, op: a.op }));
    }
    syscalls.push(converted);
  }
  out.syscalls = syscalls;
  return out;
}
