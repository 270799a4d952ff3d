/**
 * Bounded echoes of untrusted values (issue 12 class 3): a message or log line quotes what
 * it rejects, but never more than a screenful of it. A 128 KiB id echoed whole pushed the
 * answer's `grpc-message` trailer past the HTTP/2 header limit and stalled every other call
 * on the kubelet's shared connection.
 */

/** How many characters of a value a message quotes. */
const SHOWN_CHARS = 256;

/**
 * The value quoted as JSON (so NUL, newlines and control characters are visible escapes),
 * cut to its first SHOWN_CHARS characters with its full length when longer:
 * `"aaaa…" … (131072 characters)`.
 */
export function shown(value: unknown, max: number = SHOWN_CHARS): string {
  const text = typeof value === 'string' ? value : String(value);
  if (text.length <= max) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, max))}… (${text.length} characters)`;
}

/**
 * Keeps the last `maxBytes` bytes of a child's stderr: the cause of a failure is usually
 * its last words, and a plugin that prints megabytes must not make a megabyte message.
 */
export function tailBounded(text: string, maxBytes = 4096): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  const buf = Buffer.from(text, 'utf8');
  // Drop a partial UTF-8 sequence at the cut: continuation bytes are 0b10xxxxxx.
  let start = buf.length - maxBytes;
  while (start < buf.length && (buf[start]! & 0xc0) === 0x80) start++;
  return `[first ${start} bytes cut] …${buf.subarray(start).toString('utf8')}`;
}

/**
 * Caps a whole message at `maxBytes` UTF-8 bytes, keeping its head (what failed) and its
 * tail (the innermost cause), with the number of bytes left out in between.
 */
export function capMessage(text: string, maxBytes = 4096): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return text;
  const marker = ` … [${buf.length} bytes, cut] … `;
  const room = Math.max(0, maxBytes - Buffer.byteLength(marker));
  const head = Math.ceil(room * 0.75);
  const tail = room - head;
  // toString() of a cut multi-byte sequence yields U+FFFD (3 bytes), so leave a margin.
  const headText = buf.subarray(0, Math.max(0, head - 3)).toString('utf8').replace(/\uFFFD$/, '');
  const tailText = buf.subarray(buf.length - Math.max(0, tail - 3)).toString('utf8').replace(/^\uFFFD/, '');
  return `${headText}${marker}${tailText}`;
}
