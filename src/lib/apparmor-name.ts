/** AppArmor profile names: checked by the config loader, the spec builder and the profile renderer alike. */

/**
 * Profile names critter writes into a profile or a spec: the characters of every
 * distribution's profile names, no spaces or quotes, so the name needs no quoting in the
 * profile language and cannot break the `exec NAME` line runc writes to /proc.
 */
const PROFILE_NAME = /^[A-Za-z0-9_/][A-Za-z0-9_.+:@/-]*$/;
/** Longer names are not a profile anyone wrote; the kernel itself allows more. */
export const PROFILE_NAME_MAX = 256;

export function isValidProfileName(name: string): boolean {
  return name.length <= PROFILE_NAME_MAX && PROFILE_NAME.test(name);
}
