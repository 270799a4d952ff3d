/**
 * SPDY/3.1 frame encoding and decoding (draft-mbelshe-httpbis-spdy-00 with the 3.1 changes):
 * only what a server for client-go's spdystream needs. Pure functions; the connection state
 * lives in `connection.ts`.
 */
import { SPDY3_DICTIONARY } from './dictionary.ts';

export const SPDY_VERSION = 3;

/** Control frame types (§2.6). */
export const FrameType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

export const FLAG_FIN = 0x01;
const FRAME_HEADER_BYTES = 8;
/** DATA frames we send are cut to this size so one busy stream cannot starve the others. */
export const MAX_DATA_PAYLOAD = 32 * 1024;

/** RST_STREAM status codes (§2.6.3) we send. */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  CANCEL: 5,
  STREAM_IN_USE: 8,
} as const;

/** GOAWAY status codes (§2.6.6). */
export const GoawayStatus = { OK: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2 } as const;

export type Headers = Record<string, string>;

export function encodeControlFrame(type: number, flags: number, body: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  frame.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  frame.writeUInt16BE(type, 2);
  frame.writeUInt32BE((((flags & 0xff) << 24) | body.length) >>> 0, 4);
  body.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

export function encodeDataFrameHeader(streamId: number, flags: number, length: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(streamId & 0x7fffffff, 0);
  header.writeUInt32BE((((flags & 0xff) << 24) | length) >>> 0, 4);
  return header;
}

export function encodeRstStream(streamId: number, status: number): Buffer {
  const body = Buffer.allocUnsafe(8);
  body.writeUInt32BE(streamId & 0x7fffffff, 0);
  body.writeUInt32BE(status, 4);
  return encodeControlFrame(FrameType.RST_STREAM, 0, body);
}

export function encodeGoaway(lastGoodStreamId: number, status: number): Buffer {
  const body = Buffer.allocUnsafe(8);
  body.writeUInt32BE(lastGoodStreamId & 0x7fffffff, 0);
  body.writeUInt32BE(status, 4);
  return encodeControlFrame(FrameType.GOAWAY, 0, body);
}

/** The uncompressed name/value block (§2.6.10): counts and lengths are 32-bit. */
export function encodeHeaderBlock(headers: Headers): Buffer {
  const parts: Buffer[] = [];
  const entries = Object.entries(headers);
  const count = Buffer.allocUnsafe(4);
  count.writeUInt32BE(entries.length);
  parts.push(count);
  for (const [name, value] of entries) {
    for (const s of [name.toLowerCase(), value]) {
      const bytes = Buffer.from(s, 'utf8');
      const len = Buffer.allocUnsafe(4);
      len.writeUInt32BE(bytes.length);
      parts.push(len, bytes);
    }
  }
  return Buffer.concat(parts);
}

/**
 * Parses an inflated name/value block. Names are lower-cased (HTTP header names are
 * case-insensitive; Go canonicalises `streamType` while SPDY/3 sends it lower-case); a value
 * holding several NUL-separated values keeps only the first, which is all k8s headers use.
 */
export function decodeHeaderBlock(block: Buffer): Headers {
  let offset = 0;
  const readU32 = (): number => {
    if (offset + 4 > block.length) throw new Error('truncated SPDY header block');
    const v = block.readUInt32BE(offset);
    offset += 4;
    return v;
  };
  const readString = (): string => {
    const len = readU32();
    if (offset + len > block.length) throw new Error('truncated SPDY header block');
    const s = block.toString('utf8', offset, offset + len);
    offset += len;
    return s;
  };
  const headers: Headers = {};
  const count = readU32();
  for (let i = 0; i < count; i++) {
    const name = readString().toLowerCase();
    const value = readString();
    headers[name] = value.split('\0')[0] ?? '';
  }
  return headers;
}

/** zlib's Adler-32, for the FDICT field of the zlib header. */
function adler32(buf: Buffer): number {
  let a = 1;
  let b = 0;
  for (const byte of buf) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

const DICTIONARY_ID = adler32(SPDY3_DICTIONARY);
/** zlib header: deflate, 32 KiB window, FDICT set, check bits valid (0x78bb % 31 === 0). */
const ZLIB_HEADER_WITH_DICT = Buffer.from([0x78, 0xbb, 0, 0, 0, 0]);
ZLIB_HEADER_WITH_DICT.writeUInt32BE(DICTIONARY_ID, 2);
/**
 * An empty stored block, what zlib emits on Z_SYNC_FLUSH. Go's compress/flate hands out a
 * stored block's bytes only after parsing the next block header; without this marker it reads
 * past the frame and the connection's shared decompressor is broken (derisk §4 gotcha 2).
 */
const SYNC_FLUSH_MARKER = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);

/**
 * Compresses a header block for the server→client zlib stream as *stored* (uncompressed)
 * deflate blocks: valid zlib that needs no compressor state. `first` adds the zlib header
 * that opens the stream.
 */
export function storedZlibHeaderBlock(raw: Buffer, first: boolean): Buffer {
  const parts: Buffer[] = first ? [ZLIB_HEADER_WITH_DICT] : [];
  for (let offset = 0; offset < raw.length; offset += 0xffff) {
    const piece = raw.subarray(offset, Math.min(raw.length, offset + 0xffff));
    const blockHeader = Buffer.allocUnsafe(5);
    blockHeader[0] = 0; // BFINAL=0, BTYPE=00 (stored)
    blockHeader.writeUInt16LE(piece.length, 1);
    blockHeader.writeUInt16LE(~piece.length & 0xffff, 3);
    parts.push(blockHeader, piece);
  }
  parts.push(SYNC_FLUSH_MARKER);
  return Buffer.concat(parts);
}

export interface RawFrame {
  control: boolean;
  /** Control frames: the type; DATA frames: 0. */
  type: number;
  /** DATA frames: the stream id; control frames: 0. */
  streamId: number;
  version: number;
  flags: number;
  body: Buffer;
}

/** Splits complete frames off the front of `buf`; returns them and the unconsumed rest. */
export function splitFrames(buf: Buffer): { frames: RawFrame[]; rest: Buffer } {
  const frames: RawFrame[] = [];
  let offset = 0;
  while (buf.length - offset >= FRAME_HEADER_BYTES) {
    const length = buf.readUInt32BE(offset + 4) & 0xffffff;
    if (buf.length - offset < FRAME_HEADER_BYTES + length) break;
    const first = buf.readUInt32BE(offset);
    const control = (first & 0x80000000) !== 0;
    const body = buf.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + length);
    frames.push({
      control,
      type: control ? first & 0xffff : 0,
      streamId: control ? 0 : first & 0x7fffffff,
      version: control ? (first >>> 16) & 0x7fff : SPDY_VERSION,
      flags: buf[offset + 4] ?? 0,
      body,
    });
    offset += FRAME_HEADER_BYTES + length;
  }
  return { frames, rest: buf.subarray(offset) };
}
