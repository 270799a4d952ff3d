/** Mount bookkeeping for tests: what a runtime left mounted under a directory. */
import { readFile } from 'node:fs/promises';
import { runAllowFailure } from '../../../src/lib/exec.ts';

/** Mount points in this mount namespace at or below `dir`, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const points = text.split('\n')
    .map((line) => (line.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(prefix));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/**
 * Unmounts everything a runtime left mounted under `dir`. A daemon keeps its namespace
 * directories mounted after it exits (pods must outlive it), so a test removes them
 * once its pods are gone.
 */
export async function unmountAllUnder(dir: string): Promise<void> {
  for (const point of await mountsUnder(dir)) {
    await runAllowFailure('umount', [point]);
  }
  for (const point of await mountsUnder(dir)) await runAllowFailure('umount', ['-l', point]);
}

