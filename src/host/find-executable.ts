/**
 * Finding a host binary the way an operator's shell would, plus the sbin directories a
 * daemon started without a login PATH may lack (apparmor_parser, iptables live there).
 */
import { access, constants, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';

/** Finds an executable by name on PATH (or checks an absolute path). */
export async function findExecutable(name: string, extraDirs: readonly string[] = []): Promise<string | undefined> {
  const candidates = isAbsolute(name)
    ? [name]
    : [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin', ...extraDirs].filter(Boolean).map((d) => join(d, name));
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      if ((await stat(c)).isFile()) return c;
    } catch {
      // not here; try the next directory
    }
  }
  return undefined;
}
