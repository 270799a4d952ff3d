/**
 * The shape of every request-validation error (issue 12 class 2): the field's path as the
 * proto spells it (`config.linux.security_context.namespace_options.pid`), the value as
 * received, truncated (lib/shown.ts), and why it is refused.
 */
import { InvalidArgumentError } from '../../lib/errors.ts';
import { shown } from '../../lib/shown.ts';

export function invalid(path: string, value: unknown, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`${path} ${shown(value)}: ${why}`);
}

/** `base.field`, or `field` when there is no base: paths read the same at any depth. */
export function at(base: string, field: string | number): string {
  if (typeof field === 'number') return `${base}[${field}]`;
  return base === '' ? field : `${base}.${field}`;
}
