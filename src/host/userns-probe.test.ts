import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { searchableByOthers } from './userns-probe.ts';

test('searchableByOthers() names the first directory on the way that others cannot search', async () => {
  const base = await mkdtemp(join(tmpdir(), 'userns-probe-'));
  try {
    const deep = join(base, 'a', 'b');
    await mkdir(deep, { recursive: true, mode: 0o711 });
    await chmod(base, 0o711);
    assert.deepEqual(await searchableByOthers(join(deep, 'not-yet')), { ok: true });
    await chmod(join(base, 'a'), 0o700);
    const r = await searchableByOthers(deep);
    assert.equal(r.ok, false);
    assert.ok(r.reason?.startsWith(`${join(base, 'a')} is not searchable`), r.reason);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});
