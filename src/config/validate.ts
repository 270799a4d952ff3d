/**
 * Checks one raw value against its key's type. Errors name the source (file or flag), the
 * dotted key and the offending value, so an operator can fix the line without guessing.
 */
import { isAbsolute } from 'node:path';
import { InvalidArgumentError } from '../lib/errors.ts';
import type { KeyType, RuntimeHandlerConfig } from './schema.ts';

/** Returns the value converted to its type, or throws naming source, key and value. */
export function validateValue(type: KeyType, raw: unknown, key: string, source: string): unknown {
  const fail = (why: string): never => {
    throw new InvalidArgumentError(`${source}: key "${key}": value ${JSON.stringify(raw)} ${why}`);
  };
  switch (type.kind) {
    case 'string':
      if (typeof raw !== 'string') fail('must be a string');
      return raw;
    case 'path':
      if (typeof raw !== 'string') fail('must be a path string');
      if (raw !== '' && (raw as string).includes('\0')) fail('must not contain NUL');
      return raw;
    case 'int': {
      const n = typeof raw === 'string' && /^-?\d+$/.test(raw) ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isInteger(n)) fail('must be an integer');
      if ((n as number) < type.min || (n as number) > type.max) fail(`must be between ${type.min} and ${type.max}`);
      return n;
    }
    case 'bool':
      if (raw === 'true' || raw === true) return true;
      if (raw === 'false' || raw === false) return false;
      return fail('must be true or false');
    case 'enum':
      if (typeof raw !== 'string' || !type.values.includes(raw)) fail(`must be one of ${type.values.join(', ')}`);
      return raw;
    case 'strings':
    case 'paths':
      if (!Array.isArray(raw) || raw.some((v) => typeof v !== 'string')) fail('must be a list of strings');
      if (type.kind === 'paths' && (raw as string[]).some((p) => !isAbsolute(p))) fail('must list absolute paths');
      return [...(raw as string[])];
    case 'runtimes':
      return validateRuntimes(raw, fail);
  }
}

function validateRuntimes(raw: unknown, fail: (why: string) => never): Record<string, RuntimeHandlerConfig> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('must be a map of handler name to { path, root }');
  const out: Record<string, RuntimeHandlerConfig> = {};
  for (const [name, v] of Object.entries(raw as Record<string, unknown>)) {
    if (!/^[a-z0-9][a-z0-9.-]*$/.test(name)) fail(`has handler name "${name}", which must be a DNS label`);
    if (typeof v !== 'object' || v === null) fail(`has handler "${name}" that is not a map`);
    const entry = v as Record<string, unknown>;
    for (const k of Object.keys(entry)) if (k !== 'path' && k !== 'root') fail(`has handler "${name}" with unknown key "${k}"`);
    if (typeof entry.path !== 'string' || entry.path === '') fail(`has handler "${name}" without a path`);
    if (entry.root !== undefined && typeof entry.root !== 'string') fail(`has handler "${name}" whose root is not a string`);
    out[name] = { path: entry.path, root: (entry.root) ?? '' };
  }
  return out;
}
