/**
 * critter error classes as the admin API spells them: the class's stable code without
 * its prefix (PERMISSION_DENIED, NOT_FOUND, …) and an HTTP status for non-stream answers.
 */
import { CritterError } from '../lib/errors.ts';

const HTTP_STATUS: Readonly<Record<string, number>> = {
  INVALID_ARGUMENT: 400,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  FAILED_PRECONDITION: 412,
  RESOURCE_EXHAUSTED: 429,
  UNIMPLEMENTED: 501,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
};

/** `CRI_ERR_PERMISSION_DENIED` → `PERMISSION_DENIED`; anything else → `UNKNOWN`. */
export function adminCode(err: unknown): string {
  if (err instanceof CritterError) return err.code.replace(/^CRI_ERR_/, '');
  if (err instanceof Error && err.name === 'AbortError') return 'CANCELLED';
  return 'UNKNOWN';
}

export function httpStatusOf(code: string): number {
  return HTTP_STATUS[code] ?? 500;
}
