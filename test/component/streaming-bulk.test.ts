/**
 * 100 MiB through exec stdin → stdout (a cat-like backend) over SPDY: intact, and with a slow
 * reader the server's memory stays bounded because backpressure reaches the sender.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { startFakeStreamingServer } from '../../src/streaming/testing.ts';
import { spdyExec } from '../support/spdy-client.ts';

const TOTAL = 100 * 1024 * 1024;
const BLOCK = 256 * 1024;

/** A source of TOTAL bytes (random blocks with a counter) that hashes what it hands out. */
function source(): { stream: Readable; hash: () => string; sent: () => number } {
  const seed = randomBytes(BLOCK);
  const hash = createHash('sha256');
  let sent = 0;
  let digest = '';
  const stream = new Readable({
    highWaterMark: BLOCK,
    read() {
      if (sent >= TOTAL) {
        digest = hash.digest('hex');
        this.push(null);
        return;
      }
      const block = Buffer.from(seed);
      block.writeUInt32BE(sent / BLOCK, 0);
      hash.update(block);
      sent += block.length;
      this.push(block);
    },
  });
  return { stream, hash: () => digest, sent: () => sent };
}

/** A sink that stalls for `stallMs` before reading anything, then reads at full speed. */
function sink(stallMs: number): { stream: Writable; hash: () => string; received: () => number } {
  const hash = createHash('sha256');
  let received = 0;
  const start = Date.now();
  const stream = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      received += chunk.length;
      const wait = start + stallMs - Date.now();
      if (wait > 0) setTimeout(cb, wait);
      else cb();
    },
  });
  let digest = '';
  stream.on('finish', () => { digest = hash.digest('hex'); });
  return { stream, hash: () => digest, received: () => received };
}

async function pump(stallMs: number) {
  const { server } = await startFakeStreamingServer();
  try {
    const url = server.prepareExec({ containerId: 'c1', cmd: ['cat'], tty: false, stdin: true, stdout: true, stderr: false });
    const src = source();
    const dst = sink(stallMs);
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    let sentDuringStall = 0;
    const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, process.memoryUsage().rss); }, 20);
    const stallProbe = setTimeout(() => { sentDuringStall = src.sent(); }, Math.max(stallMs - 50, 0));
    const started = performance.now();
    const r = await spdyExec(url, { stdin: src.stream, stderr: false, stdoutSink: dst.stream });
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    clearTimeout(stallProbe);
    assert.deepEqual(JSON.parse(r.status), { metadata: {}, status: 'Success' });
    assert.equal(dst.received(), TOTAL);
    assert.equal(dst.hash(), src.hash());
    return { seconds, rssGrowth: rssPeak - rssBefore, sentDuringStall };
  } finally {
    await server.close();
  }
}

test('StreamingServer exec moves 100 MiB stdin → stdout intact', async (t) => {
  const { seconds, rssGrowth } = await pump(0);
  t.diagnostic(`100 MiB in ${seconds.toFixed(2)} s = ${(100 / seconds).toFixed(0)} MiB/s; RSS growth ${(rssGrowth / 2 ** 20).toFixed(0)} MiB`);
});

test('StreamingServer exec with a slow reader keeps memory bounded (backpressure to the sender)', async (t) => {
  const { seconds, rssGrowth, sentDuringStall } = await pump(1500);
  t.diagnostic(`sent before the reader started: ${(sentDuringStall / 2 ** 20).toFixed(1)} MiB; RSS growth ${(rssGrowth / 2 ** 20).toFixed(0)} MiB; ${seconds.toFixed(2)} s`);
  // Every buffer on the path is bounded: stream high-water marks in the process, and the
  // kernel's loopback socket buffers (several MiB per direction, auto-tuned), which is most
  // of what is in flight while nobody reads. Without backpressure all 100 MiB would be.
  assert.ok(sentDuringStall < 32 * 2 ** 20, `sent ${sentDuringStall} bytes while the reader stalled`);
  assert.ok(rssGrowth < 64 * 2 ** 20, `RSS grew by ${rssGrowth} bytes`);
});
