/**
 * CDI spec files (Container Device Interface, github.com/cncf-tags/container-device-interface
 * SPEC.md, versions 0.3.0–0.8.0): parsing and validation, pure. A file names a `kind`
 * (`vendor.com/class`) and its devices; each device and the spec itself carry
 * `containerEdits` that are applied to the OCI spec of a container that asks for the device.
 */
import { parse as parseYaml } from 'yaml';
import { InvalidArgumentError } from '../../lib/errors.ts';

const CDI_VERSIONS: readonly string[] = ['0.3.0', '0.4.0', '0.5.0', '0.6.0', '0.7.0', '0.8.0'];

/** OCI hook names a CDI edit may add to (runtime-spec config.md "POSIX-platform Hooks"). */
const CDI_HOOK_NAMES = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const;
type CdiHookName = (typeof CDI_HOOK_NAMES)[number];

export interface CdiDeviceNode {
  /** Path inside the container. */
  path: string;
  /** Path on the host; defaults to `path`. */
  hostPath?: string;
  type?: 'c' | 'b';
  major?: number;
  minor?: number;
  fileMode?: number;
  /** Device cgroup access, a combination of r, w, m; default rwm. */
  permissions?: string;
  uid?: number;
  gid?: number;
}

interface CdiMount {
  hostPath: string;
  containerPath: string;
  type?: string;
  options?: string[];
}

interface CdiHook {
  hookName: CdiHookName;
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export interface CdiContainerEdits {
  env?: string[];
  deviceNodes?: CdiDeviceNode[];
  mounts?: CdiMount[];
  hooks?: CdiHook[];
  additionalGids?: number[];
}

interface CdiDevice {
  name: string;
  containerEdits: CdiContainerEdits;
}

export interface CdiSpec {
  cdiVersion: string;
  /** `vendor.com/class`. */
  kind: string;
  devices: CdiDevice[];
  containerEdits: CdiContainerEdits;
}

/** Vendor: a domain-like name; class: a word (SPEC.md "kind"; cdi pkg/parser). */
const VENDOR = /^[A-Za-z](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$/;
const CLASS = /^[A-Za-z](?:[A-Za-z0-9_-]*[A-Za-z0-9])?$/;
/** Device names: alphanumerics with `-`, `_`, `.`, `:` inside. */
const DEVICE_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.:-]*[A-Za-z0-9])?$/;

export function isValidKind(kind: string): boolean {
  const slash = kind.indexOf('/');
  return slash > 0 && VENDOR.test(kind.slice(0, slash)) && CLASS.test(kind.slice(slash + 1));
}

/** `vendor.com/class=name` → its kind and device name. @throws InvalidArgumentError */
export function parseQualifiedName(qualified: string): { kind: string; name: string } {
  const eq = qualified.indexOf('=');
  const kind = eq < 0 ? '' : qualified.slice(0, eq);
  const name = eq < 0 ? '' : qualified.slice(eq + 1);
  if (!isValidKind(kind) || !DEVICE_NAME.test(name)) {
    throw new InvalidArgumentError(`CDI device name ${JSON.stringify(qualified.slice(0, 256))} is not fully qualified (want "vendor.com/class=name")`);
  }
  return { kind, name };
}

type Fail = (why: string) => never;

function cleanAbsolute(p: unknown, what: string, fail: Fail): string {
  if (typeof p !== 'string' || !p.startsWith('/')) fail(`${what} ${JSON.stringify(p)} is not an absolute path`);
  if ((p).split('/').includes('..') || (p).includes('\0')) fail(`${what} ${JSON.stringify(p)} must not contain ".." or NUL`);
  return p;
}

function strings(v: unknown, what: string, fail: Fail): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) fail(`${what} must be a list of strings`);
  return v as string[];
}

function uint(v: unknown, what: string, fail: Fail): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${what} ${JSON.stringify(v)} is not a non-negative integer`);
  return v;
}

function deviceNode(raw: Record<string, unknown>, at: string, fail: Fail): CdiDeviceNode {
  const node: CdiDeviceNode = { path: cleanAbsolute(raw.path, `${at}.path`, fail) };
  if (raw.hostPath !== undefined && raw.hostPath !== '') node.hostPath = cleanAbsolute(raw.hostPath, `${at}.hostPath`, fail);
  if (raw.type !== undefined && raw.type !== '') {
    if (raw.type !== 'c' && raw.type !== 'b') fail(`${at}.type ${JSON.stringify(raw.type)} must be "c" or "b"`);
    node.type = raw.type;
  }
  for (const k of ['major', 'minor', 'fileMode', 'uid', 'gid'] as const) {
    const n = uint(raw[k], `${at}.${k}`, fail);
    if (n !== undefined) node[k] = n;
  }
  if (raw.permissions !== undefined && raw.permissions !== '') {
    const p = raw.permissions;
    if (typeof p !== 'string' || !/^[rwm]{1,3}$/.test(p) || new Set(p).size !== p.length) fail(`${at}.permissions ${JSON.stringify(p)} must combine r, w and m`);
    node.permissions = p;
  }
  return node;
}

function edits(raw: unknown, at: string, fail: Fail): CdiContainerEdits {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) fail(`${at} must be a map`);
  const r = raw as Record<string, unknown>;
  for (const unsupported of ['intelRdt', 'netDevices']) {
    if (r[unsupported] !== undefined && r[unsupported] !== null) fail(`${at}.${unsupported} is not supported by critter`);
  }
  const out: CdiContainerEdits = {};
  const env = strings(r.env, `${at}.env`, fail);
  if (env) {
    for (const e of env) if (!/^[^=\0]+=/.test(e)) fail(`${at}.env entry ${JSON.stringify(e)} is not NAME=value`);
    out.env = env;
  }
  const list = (k: string): Record<string, unknown>[] => {
    const v = r[k];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'object' || x === null)) fail(`${at}.${k} must be a list of maps`);
    return v as Record<string, unknown>[];
  };
  const nodes = list('deviceNodes').map((n, i) => deviceNode(n, `${at}.deviceNodes[${i}]`, fail));
  if (nodes.length > 0) out.deviceNodes = nodes;
  const mounts = list('mounts').map((m, i): CdiMount => {
    const mount: CdiMount = { hostPath: cleanAbsolute(m.hostPath, `${at}.mounts[${i}].hostPath`, fail), containerPath: cleanAbsolute(m.containerPath, `${at}.mounts[${i}].containerPath`, fail) };
    if (m.type !== undefined && m.type !== '') {
      if (typeof m.type !== 'string') fail(`${at}.mounts[${i}].type must be a string`);
      mount.type = m.type;
    }
    const options = strings(m.options, `${at}.mounts[${i}].options`, fail);
    if (options) mount.options = options;
    return mount;
  });
  if (mounts.length > 0) out.mounts = mounts;
  const hooks = list('hooks').map((h, i): CdiHook => {
    if (!CDI_HOOK_NAMES.includes(h.hookName as CdiHookName)) fail(`${at}.hooks[${i}].hookName ${JSON.stringify(h.hookName)} must be one of ${CDI_HOOK_NAMES.join(', ')}`);
    const hook: CdiHook = { hookName: h.hookName as CdiHookName, path: cleanAbsolute(h.path, `${at}.hooks[${i}].path`, fail) };
    const args = strings(h.args, `${at}.hooks[${i}].args`, fail);
    const hookEnv = strings(h.env, `${at}.hooks[${i}].env`, fail);
    const timeout = uint(h.timeout, `${at}.hooks[${i}].timeout`, fail);
    if (args) hook.args = args;
    if (hookEnv) hook.env = hookEnv;
    if (timeout !== undefined) hook.timeout = timeout;
    return hook;
  });
  if (hooks.length > 0) out.hooks = hooks;
  if (r.additionalGids !== undefined && r.additionalGids !== null) {
    if (!Array.isArray(r.additionalGids)) fail(`${at}.additionalGids must be a list`);
    out.additionalGids = (r.additionalGids as unknown[]).map((g, i) => uint(g, `${at}.additionalGids[${i}]`, fail)!);
  }
  return out;
}

/**
 * A spec file's text (JSON is YAML too) → a validated spec.
 * @throws InvalidArgumentError naming the file and the offending field
 */
export function parseCdiSpec(text: string, file: string): CdiSpec {
  const fail: Fail = (why) => { throw new InvalidArgumentError(`CDI spec ${file}: ${why}`); };
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new InvalidArgumentError(`CDI spec ${file}: not JSON or YAML`, { cause: err });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('is not a map');
  const r = raw as Record<string, unknown>;
  if (typeof r.cdiVersion !== 'string' || !CDI_VERSIONS.includes(r.cdiVersion)) fail(`cdiVersion ${JSON.stringify(r.cdiVersion)} is not one of ${CDI_VERSIONS.join(', ')}`);
  if (typeof r.kind !== 'string' || !isValidKind(r.kind)) fail(`kind ${JSON.stringify(r.kind)} is not "vendor.com/class"`);
  if (!Array.isArray(r.devices) || r.devices.length === 0) fail('has no devices');
  const seen = new Set<string>();
  const devices = (r.devices as unknown[]).map((d, i): CdiDevice => {
    if (typeof d !== 'object' || d === null) fail(`devices[${i}] is not a map`);
    const dev = d as Record<string, unknown>;
    if (typeof dev.name !== 'string' || !DEVICE_NAME.test(dev.name)) fail(`devices[${i}].name ${JSON.stringify(dev.name)} is not a valid device name`);
    if (seen.has(dev.name)) fail(`device ${JSON.stringify(dev.name)} is defined twice`);
    seen.add(dev.name);
    const containerEdits = edits(dev.containerEdits, `devices[${i}].containerEdits`, fail);
    return { name: dev.name, containerEdits };
  });
  return { cdiVersion: r.cdiVersion, kind: r.kind, devices, containerEdits: edits(r.containerEdits, 'containerEdits', fail) };
}
