/**
 * Id-mapped mounts (mount_setattr(2) MOUNT_ATTR_IDMAP, Linux ≥ 5.12; overlayfs ≥ 5.19):
 * a detached copy of a mount (open_tree OPEN_TREE_CLONE) gets a user namespace's uid/gid
 * mapping and is attached at a new place (move_mount). Files owned by id N on disk then
 * appear owned by the namespace's mapping of N, so a pod whose root is host uid 100000 sees
 * its image and volumes owned by root (issue 13 item 1). runc 1.1 cannot make these mounts
 * itself (no `linux.mountExtensions.idmap` in `runc features`), so critter makes them and
 * hands runc plain bind mounts of the result, which keep the mapping.
 * The calls are raw syscalls: glibc 2.36 has wrappers for some, not all, of them.
 */
import koffi from 'koffi';
import { errnoName } from '../lib/errno.ts';

const libc = koffi.load('libc.so.6');
// syscall(2) is variadic: koffi needs each call's argument types spelt out.
const syscall = libc.func('long syscall(long number, ...)');
const closeC = libc.func('int close(int fd)');

/** x86_64 and aarch64 share these numbers (the "generic" table since 5.2). */
const SYS = { open_tree: 428, move_mount: 429, mount_setattr: 442 } as const;
const AT_FDCWD = -100;
const AT_EMPTY_PATH = 0x1000;
const AT_RECURSIVE = 0x8000;
const OPEN_TREE_CLONE = 1;
const OPEN_TREE_CLOEXEC = 0o2000000;
const MOVE_MOUNT_F_EMPTY_PATH = 0x4;
const MOUNT_ATTR_IDMAP = 0x00100000;

const MountAttr = koffi.struct('critter_mount_attr', { attr_set: 'uint64', attr_clr: 'uint64', propagation: 'uint64', userns_fd: 'uint64' });

function fail(call: string, path: string): NodeJS.ErrnoException {
  const code = errnoName(koffi.errno());
  const err: NodeJS.ErrnoException = new Error(`${call} ${JSON.stringify(path)}: ${code}`);
  err.code = code;
  err.syscall = call;
  err.path = path;
  return err;
}

/**
 * Attaches at `target` (an existing file or directory) an id-mapped copy of the mount tree at
 * `source`, mapped through the user namespace open at `usernsFd`. `recursive` copies the
 * submounts as well (an rbind), each id-mapped.
 */
export function idmappedBind(source: string, target: string, usernsFd: number, recursive: boolean): void {
  const rec = recursive ? AT_RECURSIVE : 0;
  const tree = Number(syscall(SYS.open_tree, 'int', AT_FDCWD, 'str', source, 'uint', OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec));
  if (tree < 0) throw fail('open_tree', source);
  try {
    const attr = { attr_set: MOUNT_ATTR_IDMAP, attr_clr: 0, propagation: 0, userns_fd: usernsFd };
    const size = koffi.sizeof(MountAttr);
    if (Number(syscall(SYS.mount_setattr, 'int', tree, 'str', '', 'uint', AT_EMPTY_PATH | rec, koffi.pointer(MountAttr), attr, 'size_t', size)) < 0) {
      throw fail('mount_setattr', source);
    }
    if (Number(syscall(SYS.move_mount, 'int', tree, 'str', '', 'int', AT_FDCWD, 'str', target, 'uint', MOVE_MOUNT_F_EMPTY_PATH)) < 0) {
      throw fail('move_mount', target);
    }
  } finally {
    closeC(tree);
  }
}
