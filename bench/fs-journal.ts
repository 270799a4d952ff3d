/**
 * Whether a directory's filesystem is ext4 without a journal. There the kernel skips inodes
 * freed in the last half minute when it allocates new ones (ext4 ialloc.c recently_deleted(),
 * applied only without a journal), checking each: right after a layer was deleted, creating
 * files costs 100-250 µs each instead of ~7 µs, for any process. Pull figures of many-file
 * layers then measure where each runtime's directories happen to land, not the runtime.
 */
import { readFile, stat } from 'node:fs/promises';

/** The mount (device name and type) holding `dir`, from /proc/self/mountinfo. */
async function mountOf(dir: string): Promise<{ source: string; fstype: string } | undefined> {
  const { dev } = await stat(dir);
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
  for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    if (sep < 0 || fields[2] !== `${major}:${minor}`) continue;
    return { fstype: fields[sep + 1] ?? '', source: fields[sep + 2] ?? '' };
  }
  return undefined;
}

/** A warning to print when `dir` is on ext4 without a journal; undefined otherwise. */
export async function unjournaledExt4Warning(dir: string): Promise<string | undefined> {
  const mount = await mountOf(dir).catch(() => undefined);
  if (mount?.fstype !== 'ext4') return undefined;
  const device = mount.source.split('/').pop() ?? '';
  const task = await readFile(`/sys/fs/ext4/${device}/journal_task`, 'utf8').catch(() => undefined);
  if (task?.trim() !== '<none>') return undefined;
  return `warning: ${dir} is on ext4 without a journal (${mount.source}): creating files right after others were deleted ` +
    'is 15-30x slower there for every process, so pull times follow the filesystem\'s recent history. ' +
    'For figures like a node\'s, point TMPDIR (and the compared runtime\'s root) at a journaled filesystem.';
}
