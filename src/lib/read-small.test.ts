import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSmallFileSync } from './read-small.ts';

test('readSmallFileSync reads kernel files, files past its buffer whole, and gives undefined for a missing one', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'read-small-'));
  try {
    assert.match(readSmallFileSync('/proc/self/stat') ?? '', /^\d+ \(/);
    const big = 'abcdefgh'.repeat(40_000);
    await writeFile(join(dir, 'big'), big);
    assert.equal(readSmallFileSync(join(dir, 'big')), big);
    await writeFile(join(dir, 'small'), 'usage_usec 12\n');
    assert.equal(readSmallFileSync(join(dir, 'small')), 'usage_usec 12\n', 'the shared buffer grown by the big file still reads a small one exactly');
    assert.equal(readSmallFileSync(join(dir, 'missing')), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
