/**
 * Test support only: builds layer tars in memory with tar-stream, plus raw PAX xattr
 * records (tar-stream's packer writes PAX values as UTF-8 text, so a binary
 * `security.capability` needs its own header block).
 */
import tar from 'tar-stream';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

export interface FixtureEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  content?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Written as raw SCHILY.xattr.* PAX records (binary-safe). */
  xattrs?: Record<string, Buffer>;
}

const END_OF_ARCHIVE = 1024;

/** An uncompressed tar holding `entries` in order. */
export async function buildTar(entries: readonly FixtureEntry[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const one = await packOne(e);
    if (e.xattrs) parts.push(paxHeader(Object.entries(e.xattrs)));
    parts.push(one.subarray(0, one.length - END_OF_ARCHIVE));
  }
  parts.push(Buffer.alloc(END_OF_ARCHIVE));
  return Buffer.concat(parts);
}

/** The descriptor facts of a layer blob: compressed digest, diffID, sizes. */
export function describeLayer(tarBytes: Buffer, compress: boolean): { blob: Buffer; digest: string; diffId: string } {
  const blob = compress ? gzipSync(tarBytes) : tarBytes;
  return { blob, digest: sha256(blob), diffId: sha256(tarBytes) };
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

async function packOne(e: FixtureEntry): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
  const done = new Promise<void>((resolve, reject) => { pack.on('end', resolve); pack.on('error', reject); });
  const type = e.type ?? 'file';
  const content = type === 'file' ? Buffer.from(e.content ?? '') : undefined;
  const header = {
    name: e.name,
    type,
    mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
    uid: e.uid ?? 0,
    gid: e.gid ?? 0,
    mtime: e.mtime ?? new Date(1_600_000_000_000),
    linkname: e.linkname,
    devmajor: e.devmajor,
    devminor: e.devminor,
    size: content?.length ?? 0,
  };
  pack.entry(header, content ?? Buffer.alloc(0));
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

function paxHeader(xattrs: Array<[string, Buffer]>): Buffer {
  const records = xattrs.map(([name, value]) => paxRecord(`SCHILY.xattr.${name}`, value));
  const body = Buffer.concat(records);
  const header = Buffer.alloc(512);
  header.write('PaxHeaders/entry', 0, 'latin1');
  header.write('0000644\0', 100, 'latin1');
  header.write('0000000\0', 108, 'latin1');
  header.write('0000000\0', 116, 'latin1');
  header.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  header.write('00000000000\0', 136, 'latin1');
  header.write('x', 156, 'latin1');
  header.write('ustar\0' + '00', 257, 'latin1');
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  const pad = Buffer.alloc((512 - (body.length % 512)) % 512);
  return Buffer.concat([header, body, pad]);
}

function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = rest.length + 1;
  while (String(len).length + rest.length !== len) len = String(len).length + rest.length;
  return Buffer.concat([Buffer.from(String(len)), rest]);
}
