/**
 * The subset of the OCI runtime-spec (config.json, runtime-spec v1.0.2 as runc 1.1 reads it)
 * that the CreateContainer builder writes. Field names are the spec's JSON names; optional
 * fields are left out rather than written as null, because runc treats null and absent alike
 * only for some of them.
 */

interface OciUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
}

export interface OciCapabilities {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable: string[];
  ambient: string[];
}

interface OciProcessSpec {
  terminal: boolean;
  user: OciUser;
  args: string[];
  env: string[];
  cwd: string;
  capabilities: OciCapabilities;
  noNewPrivileges: boolean;
  oomScoreAdj?: number;
  apparmorProfile?: string;
}

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

type OciNamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup';

export interface OciNamespace {
  type: OciNamespaceType;
  path?: string;
}

export interface OciDevice {
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface OciDeviceCgroupRule {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number;
  minor?: number;
  access: string;
}

interface OciHugepageLimit {
  pageSize: string;
  limit: number;
}

export interface OciResources {
  devices: OciDeviceCgroupRule[];
  cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string };
  memory?: { limit?: number; swap?: number };
  hugepageLimits?: OciHugepageLimit[];
  unified?: Record<string, string>;
}

export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface OciSeccompSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: OciSeccompArg[];
}

export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  syscalls?: OciSeccompSyscall[];
}

interface OciLinux {
  namespaces: OciNamespace[];
  resources: OciResources;
  cgroupsPath: string;
  devices: OciDevice[];
  maskedPaths: string[];
  readonlyPaths: string[];
  rootfsPropagation?: 'rprivate' | 'rslave' | 'rshared';
  seccomp?: OciSeccomp;
  uidMappings?: OciIdMapping[];
  gidMappings?: OciIdMapping[];
}

export interface OciIdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** runtime-spec config.md "POSIX-platform Hooks" (CDI edits add them). */
interface OciHook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

type OciHookName = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';

export interface OciSpec {
  ociVersion: string;
  process: OciProcessSpec;
  root: { path: string; readonly: boolean };
  mounts: OciMount[];
  annotations: Record<string, string>;
  linux: OciLinux;
  hooks?: Partial<Record<OciHookName, OciHook[]>>;
}
