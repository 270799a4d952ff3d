/** Mount points of this process's mount namespace, from /proc/self/mountinfo. */
import { readFile } from 'node:fs/promises';

/** Mount points of this process's mount namespace (mountinfo field 5, octal escapes decoded). */
export async function mountPoints(): Promise<Set<string>> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const points = new Set<string>();
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (field) points.add(field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return points;
}
