/**
 * Path fields. `..` is refused outright rather than resolved: a request path that climbs is
 * either a mistake or an attempt to leave the directory it is joined to (the log directory,
 * the cgroup root, a rootfs), and no kubelet sends one.
 */
import { posix } from 'node:path';
import { invalid } from './field.ts';
import { checkLine, MAX_PATH } from './text.ts';

function hasDotDot(value: string): boolean {
  return value.split('/').includes('..');
}

/** normalize() keeps a trailing slash; a clean path may have one, nothing else changes. */
function isNormalised(value: string): boolean {
  const n = posix.normalize(value);
  return n === value || `${n}/` === value;
}

export interface PathRules {
  required?: boolean;
  /** Also refuse `//`, `/./` and the like (log paths, which are compared as strings). */
  normalised?: boolean;
}

/** An absolute path with no `..`, NUL or newline; empty allowed unless required. */
export function checkAbsolutePath(path: string, value: string, rules: PathRules = {}): void {
  if (value === '') {
    if (rules.required) throw invalid(path, value, 'is required');
    return;
  }
  checkLine(path, value, MAX_PATH);
  if (!value.startsWith('/')) throw invalid(path, value, 'must be an absolute path');
  if (hasDotDot(value)) throw invalid(path, value, 'must not contain ".."');
  if (rules.normalised && !isNormalised(value)) throw invalid(path, value, `must be a normalised path (${JSON.stringify(posix.normalize(value))})`);
}

/** A path relative to a directory we choose, which it must not leave. */
export function checkRelativePath(path: string, value: string, rules: PathRules = {}): void {
  if (value === '') {
    if (rules.required) throw invalid(path, value, 'is required');
    return;
  }
  checkLine(path, value, MAX_PATH);
  if (value.startsWith('/')) throw invalid(path, value, 'must be a relative path');
  if (hasDotDot(value)) throw invalid(path, value, 'must not contain ".."');
  if (rules.normalised && !isNormalised(value)) throw invalid(path, value, `must be a normalised path (${JSON.stringify(posix.normalize(value))})`);
}

/** systemd.unit(5): unit names are at most 255 characters of [a-zA-Z0-9:_.\\-]. */
const SLICE = /^[a-zA-Z0-9_.:\\-]+\.slice$/;

/**
 * cgroup_parent, for either driver (sandbox/cgroup-parent.ts then checks which form the
 * configured driver takes): a cgroupfs path without `.`/`..` or empty components, or a
 * path whose last element is a systemd slice name. Never a way out of the cgroup root.
 */
export function checkCgroupParent(path: string, value: string): void {
  if (value === '') return;
  checkLine(path, value, MAX_PATH);
  const parts = value.replace(/^\//, '').replace(/\/$/, '').split('/');
  if (parts.some((p) => p === '..' || p === '.')) throw invalid(path, value, 'must not contain "." or ".." components');
  if (parts.some((p) => p === '')) throw invalid(path, value, 'must not contain empty components');
  const last = parts[parts.length - 1]!;
  if (last.endsWith('.slice')) {
    if (!SLICE.test(last) || last.length > 255) throw invalid(path, value, 'is not a valid systemd slice name');
    if (last !== '-.slice' && (last.startsWith('-') || last.includes('--') || last.startsWith('.'))) throw invalid(path, value, 'is not a valid systemd slice name (a "-" separates nested slices)');
  }
}
