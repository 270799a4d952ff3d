/**
 * Text fields: what may never appear in a name, an id, a path or an argv element. A NUL
 * byte truncates the value where it reaches C (runc, the kernel, conmon's argv), so what
 * was checked is not what runs; a newline splits log lines, /etc/hosts and resolv.conf.
 */
import { at, invalid } from './field.ts';

/** Kubernetes object names and namespaces are DNS subdomains at most (253). */
export const MAX_NAME = 253;
/** Our ids are 64 hex characters; a prefix is shorter. Anything longer names nothing. */
const MAX_ID = 128;
/** PATH_MAX. */
export const MAX_PATH = 4096;
/** One argv element or env entry: ARG_MAX-ish bounds stay far above real use. */
const MAX_ARG = 128 * 1024;

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/** No NUL anywhere; `max` characters at most. */
export function checkNoNul(path: string, value: string, max = MAX_ARG): void {
  if (value.includes('\0')) throw invalid(path, value, 'contains a NUL byte');
  if (value.length > max) throw invalid(path, value, `longer than ${max} characters`);
}

/** One line of printable text: no NUL, newline or other control character. */
export function checkLine(path: string, value: string, max: number): void {
  if (CONTROL.test(value)) throw invalid(path, value, value.includes('\0') ? 'contains a NUL byte' : 'contains a newline or control character');
  if (value.length > max) throw invalid(path, value, `longer than ${max} characters`);
}

/** A required single-line name (metadata name, namespace, uid). */
export function checkName(path: string, value: string, required = true): void {
  if (value === '') {
    if (required) throw invalid(path, value, 'is required');
    return;
  }
  checkLine(path, value, MAX_NAME);
}

/**
 * A container or pod id (or a prefix of one). Only its shape is checked here: an id that
 * is well-formed but unknown is the service's NOT_FOUND.
 */
export function checkId(path: string, value: string): void {
  if (value === '') throw invalid(path, value, 'is required');
  checkIdShape(path, value);
}

/**
 * What no id can be, set or not: ids name directories under the state and run roots, so
 * one holding `/` or being `.`/`..` would name another directory.
 */
export function checkIdShape(path: string, value: string): void {
  checkLine(path, value, MAX_ID);
  if (value.includes('/') || value === '.' || value === '..') throw invalid(path, value, 'is not an id (ids hold no "/" and are not "." or "..")');
}

/**
 * argv: the executable must be one clean line; the arguments may hold newlines (a
 * `sh -c` script is one argument), never NUL.
 */
export function checkArgv(path: string, argv: readonly string[]): void {
  for (const [i, arg] of argv.entries()) {
    if (i === 0) checkLine(at(path, i), arg, MAX_PATH);
    else checkNoNul(at(path, i), arg);
  }
}

/** An env key: POSIX names hold no `=` (it ends the name), NUL or newline. */
export function checkEnvKey(path: string, key: string): void {
  if (key === '') throw invalid(path, key, 'is required');
  checkLine(path, key, MAX_NAME * 4);
  if (key.includes('=')) throw invalid(path, key, 'contains "=", which ends an environment variable name');
}

/** An env value: anything but NUL (a value may span lines). */
export function checkEnvValue(path: string, value: Buffer | string): void {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (bytes.includes(0)) throw invalid(path, bytes.toString('utf8'), 'contains a NUL byte');
  if (bytes.length > MAX_ARG) throw invalid(path, bytes.toString('utf8'), `longer than ${MAX_ARG} bytes`);
}

/** Every key and value of a label or annotation map: no NUL, bounded. */
export function checkStringMap(path: string, map: Readonly<Record<string, string>> | null | undefined): void {
  for (const [k, v] of Object.entries(map ?? {})) {
    checkNoNul(`${path} key`, k, MAX_ARG);
    checkNoNul(at(path, k.length > 64 ? `${k.slice(0, 64)}…` : k), v);
  }
}
