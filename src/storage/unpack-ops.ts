/**
 * The filesystem half of layer extraction: a list of operations the unpacker plans on the
 * event loop (in archive order, every path already resolved inside the layer by LayerTree)
 * and a thread runs here with synchronous calls, one after another. Creating a file is
 * kernel work (inode allocation, 12 µs a file on ext4 here) that would otherwise hold the
 * event loop while it could hash and parse the next entries; on its own thread it runs
 * beside them (derisk §5; issue 15).
 *
 * Only plain data crosses threads: paths, numbers, and offsets into one transferred buffer
 * per batch holding the file contents and xattr values.
 */
import { closeSync, fchmodSync, fchownSync, futimesSync, chmodSync, lchownSync, linkSync, lutimesSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeSync, constants as fsc } from 'node:fs';
import { lsetxattr, mknod } from './libc.ts';

const CREATE_FLAGS = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;

/** An xattr whose value is `n` bytes at offset `o` of the batch's data. */
export type XattrRef = [name: string, o: number, n: number];

/** Owner, permission bits (with setuid/setgid/sticky), xattrs. `m: -1` leaves the mode alone (symlinks). */
interface Meta { u: number; g: number; m: number; x?: XattrRef[] }

/** One filesystem operation; `e` is the index of the tar entry it belongs to, in the batch's `names`. */
export type FsOp = { e: number } & (
  | { k: 'mkdir'; p: string; m: number }
  /** Removes whatever is at `p`, a directory with everything in it. */
  | { k: 'rm'; p: string }
  | { k: 'unlink'; p: string }
  /** A whole file at once: create, write `n` bytes at `o`, seal (the common case: small files). */
  | ({ k: 'file'; p: string; o: number; n: number; t: number } & Meta)
  /** Creates the file the next `append` and `seal` operations write (exclusive, never through a symlink). */
  | { k: 'create'; p: string; m: number }
  | { k: 'append'; o: number; n: number }
  /** Owner, mode, xattrs and mtime (seconds) of the file being written, then closes it. */
  | ({ k: 'seal'; p: string; t: number } & Meta)
  | { k: 'symlink'; p: string; target: string }
  | { k: 'link'; p: string; from: string }
  | { k: 'mknod'; p: string; m: number; major: number; minor: number }
  | ({ k: 'meta'; p: string } & Meta)
  | { k: 'xattr'; p: string; x: XattrRef[] }
  /** mtime and atime `t` (seconds); `follow: false` never follows a final symlink. */
  | { k: 'times'; p: string; t: number; follow: boolean }
);

export interface FsBatch {
  /** Names of the entries the operations belong to, for errors. */
  names: string[];
  ops: FsOp[];
  data: ArrayBuffer;
}

/** What a failed operation reports back: the errno fields of the error and the entry's index. */
export interface FsOpFailure {
  entry: number;
  message: string;
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
}

/** The process umask: the bits a new file's mode loses. Unknown, a mode is always set explicitly. */
function readUmask(): number {
  try {
    const m = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? parseInt(m[1]!, 8) : 0o777;
  } catch {
    return 0o777;
  }
}

/** Runs batches in order; holds the file being written between batches. */
export class FsOpRunner {
  readonly #umask = readUmask();
  #fd = -1;
  /** The mode the open file was created with (after the umask). */
  #createdMode = 0;

  /** Runs every operation of `batch`; stops at the first that fails and closes the open file. */
  run(batch: FsBatch): FsOpFailure | undefined {
    const data = Buffer.from(batch.data);
    for (const op of batch.ops) {
      try {
        this.#one(op, data);
      } catch (err) {
        this.reset();
        const e = err as NodeJS.ErrnoException;
        const failure: FsOpFailure = { entry: op.e, message: e?.message ?? String(err) };
        if (e?.code !== undefined) failure.code = e.code;
        if (e?.errno !== undefined) failure.errno = e.errno;
        if (e?.syscall !== undefined) failure.syscall = e.syscall;
        if (e?.path !== undefined) failure.path = e.path;
        return failure;
      }
    }
    return undefined;
  }

  /** Closes a file left open by a layer that stopped part way. */
  reset(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }

  #one(op: FsOp, data: Buffer): void {
    switch (op.k) {
      case 'mkdir': mkdirSync(op.p, { mode: op.m }); return;
      case 'rm': rmSync(op.p, { recursive: true, force: true }); return;
      case 'unlink': unlinkSync(op.p); return;
      case 'file':
        this.#create(op.p, op.m);
        this.#write(data, op.o, op.n);
        this.#seal(op, data);
        return;
      case 'create':
        this.#create(op.p, op.m);
        return;
      case 'append':
        this.#write(data, op.o, op.n);
        return;
      case 'seal':
        this.#seal(op, data);
        return;
      case 'symlink': symlinkSync(op.target, op.p); return;
      case 'link': linkSync(op.from, op.p); return;
      case 'mknod': mknod(op.p, op.m, op.major, op.minor); return;
      case 'meta':
        // Owner first (chown clears setuid/setgid and file capabilities), then mode, then xattrs.
        lchownSync(op.p, op.u, op.g);
        if (op.m >= 0) chmodSync(op.p, op.m);
        setXattrs(op.p, op.x, data);
        return;
      case 'xattr': setXattrs(op.p, op.x, data); return;
      case 'times':
        if (op.follow) utimesSync(op.p, op.t, op.t);
        else lutimesSync(op.p, op.t, op.t);
        return;
    }
  }

  #create(path: string, mode: number): void {
    this.reset();
    // Created with its final permission bits where the umask keeps them (no chmod then);
    // the layer's directory is private (0700) while it is being extracted.
    this.#createdMode = mode & 0o777 & ~this.#umask;
    this.#fd = openSync(path, CREATE_FLAGS, mode & 0o777);
  }

  #write(data: Buffer, o: number, n: number): void {
    for (let off = o, end = o + n; off < end;) off += writeSync(this.#fd, data, off, end - off);
  }

  #seal(op: Meta & { p: string; t: number }, data: Buffer): void {
    const fd = this.#fd;
    fchownSync(fd, op.u, op.g);
    // chown clears setuid and setgid, so a mode with them is set after it.
    if (op.m !== this.#createdMode) fchmodSync(fd, op.m);
    setXattrs(op.p, op.x, data);
    futimesSync(fd, op.t, op.t);
    this.#fd = -1;
    closeSync(fd);
  }
}

function setXattrs(path: string, xattrs: XattrRef[] | undefined, data: Buffer): void {
  for (const [name, o, n] of xattrs ?? []) lsetxattr(path, name, data.subarray(o, o + n));
}
