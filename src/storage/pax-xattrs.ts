/**
 * tar-stream decodes PAX records as UTF-8 strings, which corrupts binary xattr values:
 * a `security.capability` holding cap_setuid has a 0x80 byte and would come back as
 * U+FFFD, and the kernel then refuses it. This pass-through scanner walks the same tar
 * stream before tar-stream does and keeps the raw bytes of every `SCHILY.xattr.*` and
 * `LIBARCHIVE.xattr.*` record, one map per real entry, in archive order.
 */
import { Transform, type TransformCallback } from 'node:stream';

const BLOCK = 512;
/** Header types tar-stream consumes itself and never emits as entries. */
const META_TYPES = new Set(['x', 'g', 'L', 'K']);
/** A PAX header larger than this is refused (tar-stream's own cap is 1 MiB for names). */
const MAX_PAX_SIZE = 8 * 1024 * 1024;

export type RawXattrs = Map<string, Buffer>;

/** Passes bytes through unchanged; `nextEntryXattrs()` yields the raw xattrs of the next entry. */
export class PaxXattrScanner extends Transform {
  #pending: Buffer[] = [];
  #pendingLen = 0;
  /** Bytes of entry data still to skip. */
  #skip = 0;
  /** Collecting the body of a PAX header of this many bytes (0 = not collecting). */
  #paxSize = 0;
  #paxGlobal = false;
  #paxBody: Buffer[] = [];
  #paxBodyLen = 0;
  #paxPadding = 0;
  #nextXattrs: RawXattrs = new Map();
  #nextSize: number | undefined;
  #globalXattrs: RawXattrs = new Map();
  #queue: RawXattrs[] = [];
  #ended = false;

  /** The raw xattrs of the next entry tar-stream will emit. */
  nextEntryXattrs(): RawXattrs {
    return this.#queue.shift() ?? new Map<string, Buffer>();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.#scan(chunk);
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb(null, chunk);
  }

  #scan(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.#ended) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - off);
        this.#skip -= n;
        off += n;
        continue;
      }
      if (this.#paxSize > 0) {
        const n = Math.min(this.#paxSize - this.#paxBodyLen, chunk.length - off);
        this.#paxBody.push(chunk.subarray(off, off + n));
        this.#paxBodyLen += n;
        off += n;
        if (this.#paxBodyLen === this.#paxSize) this.#finishPax();
        continue;
      }
      const n = Math.min(BLOCK - this.#pendingLen, chunk.length - off);
      this.#pending.push(chunk.subarray(off, off + n));
      this.#pendingLen += n;
      off += n;
      if (this.#pendingLen === BLOCK) {
        const header = Buffer.concat(this.#pending);
        this.#pending = [];
        this.#pendingLen = 0;
        this.#header(header);
      }
    }
  }

  #header(h: Buffer): void {
    if (h.every((b) => b === 0)) return;
    const type = h[156] === 0 ? '0' : String.fromCharCode(h[156] ?? 48);
    let size = decodeNumber(h.subarray(124, 136));
    if (type === 'x' || type === 'g') {
      if (size > MAX_PAX_SIZE) throw new Error(`PAX header of ${size} bytes is too large`);
      this.#paxGlobal = type === 'g';
      this.#paxPadding = padding(size);
      this.#paxSize = size;
      if (size === 0) this.#finishPax();
      return;
    }
    if (META_TYPES.has(type)) {
      this.#skip = size + padding(size);
      return;
    }
    if (this.#nextSize !== undefined) size = this.#nextSize;
    this.#queue.push(new Map([...this.#globalXattrs, ...this.#nextXattrs]));
    this.#nextXattrs = new Map();
    this.#nextSize = undefined;
    // Link, symlink, char/block device, FIFO and directory headers carry no data.
    const hasData = !['1', '2', '3', '4', '5', '6'].includes(type);
    this.#skip = hasData ? size + padding(size) : 0;
  }

  #finishPax(): void {
    const body = Buffer.concat(this.#paxBody);
    this.#paxBody = [];
    this.#paxBodyLen = 0;
    this.#paxSize = 0;
    this.#skip = this.#paxPadding;
    const target = this.#paxGlobal ? this.#globalXattrs : this.#nextXattrs;
    for (const [key, value] of parsePaxRecords(body)) {
      if (key === 'size' && !this.#paxGlobal) this.#nextSize = Number(value.toString('latin1'));
      else if (key.startsWith('SCHILY.xattr.')) target.set(key.slice('SCHILY.xattr.'.length), value);
      else if (key.startsWith('LIBARCHIVE.xattr.')) {
        // libarchive: URL-encoded name, base64 value.
        target.set(decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length)), Buffer.from(value.toString('latin1'), 'base64'));
      }
    }
  }

  override _flush(cb: TransformCallback): void {
    this.#ended = true;
    cb();
  }
}

/** PAX records: "<len> <key>=<value>\n", where len counts the whole record in bytes. */
function parsePaxRecords(buf: Buffer): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  let off = 0;
  while (off < buf.length) {
    const space = buf.indexOf(0x20, off);
    if (space < 0) break;
    const len = Number(buf.toString('latin1', off, space));
    if (!Number.isInteger(len) || len <= 0 || off + len > buf.length) break;
    const record = buf.subarray(space + 1, off + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq > 0) out.push([record.toString('utf8', 0, eq), Buffer.from(record.subarray(eq + 1))]);
    off += len;
  }
  return out;
}

/** Octal, or GNU base-256 when the top bit of the first byte is set. */
function decodeNumber(field: Buffer): number {
  if ((field[0] ?? 0) & 0x80) {
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + (field[i] ?? 0);
    return n;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}
