import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { NotFoundError } from '../../lib/errors.ts';
import { CdiRegistry } from './cdi-registry.ts';

const log = pino({ level: 'silent' });

async function withDirs(fn: (a: string, b: string) => Promise<void>): Promise<void> {
  const a = await mkdtemp(join(tmpdir(), 'cdi-a-'));
  const b = await mkdtemp(join(tmpdir(), 'cdi-b-'));
  try {
    await fn(a, b);
  } finally {
    await rm(a, { recursive: true, force: true });
    await rm(b, { recursive: true, force: true });
  }
}

const spec = (kind: string, name: string, env: string): string => JSON.stringify({
  cdiVersion: '0.5.0', kind, containerEdits: { env: [`SPEC=${kind}`] },
  devices: [{ name, containerEdits: { env: [env], deviceNodes: [{ path: '/dev/cdi-null', hostPath: '/dev/null' }] } }],
});

test('CdiRegistry.resolve() gives spec edits once, then device edits, with device numbers from the host', async () => {
  await withDirs(async (a) => {
    await writeFile(join(a, 'null.json'), spec('example.com/null', 'dev0', 'DEV=0'));
    const r = await new CdiRegistry({ dirs: [a], log }).resolve(['example.com/null=dev0', 'example.com/null=dev0']);
    assert.deepEqual(r.devices, ['example.com/null=dev0']);
    assert.deepEqual(r.edits[0], { env: ['SPEC=example.com/null'] });
    assert.deepEqual(r.edits[1]?.env, ['DEV=0']);
    const node = r.edits[1]?.deviceNodes?.[0];
    assert.equal(node?.type, 'c');
    assert.equal(node?.major, 1, '/dev/null is 1:3');
    assert.equal(node?.minor, 3);
  });
});

test('CdiRegistry.resolve() refuses an unknown device naming it, lets a later dir win and skips broken files', async () => {
  await withDirs(async (a, b) => {
    await writeFile(join(a, 'null.yaml'), spec('example.com/null', 'dev0', 'FROM=a'));
    await writeFile(join(b, 'null.json'), spec('example.com/null', 'dev0', 'FROM=b'));
    await writeFile(join(b, 'broken.json'), '{"cdiVersion": "0.5.0", "kind": "nope"}');
    await writeFile(join(b, 'ignored.txt'), 'not a spec');
    const reg = new CdiRegistry({ dirs: [a, b], log });
    assert.deepEqual((await reg.resolve(['example.com/null=dev0'])).edits[1]?.env, ['FROM=b']);
    await assert.rejects(reg.resolve(['example.com/null=dev9', 'example.com/null=dev0']), (err: Error) => err instanceof NotFoundError && err.message.includes('"example.com/null=dev9"') && err.message.includes(a));
  });
});

test('CdiRegistry.resolve() sees a changed, added or removed spec file at the next call', async () => {
  await withDirs(async (a) => {
    const reg = new CdiRegistry({ dirs: [a], log });
    await assert.rejects(reg.resolve(['example.com/null=dev0']), NotFoundError);
    const file = join(a, 'null.json');
    await writeFile(file, spec('example.com/null', 'dev0', 'V=1'));
    assert.deepEqual((await reg.resolve(['example.com/null=dev0'])).edits[1]?.env, ['V=1']);
    await writeFile(file, spec('example.com/null', 'dev0', 'V=22'));
    await utimes(file, new Date(), new Date(Date.now() + 5000));
    assert.deepEqual((await reg.resolve(['example.com/null=dev0'])).edits[1]?.env, ['V=22']);
    await rm(file);
    await assert.rejects(reg.resolve(['example.com/null=dev0']), NotFoundError);
  });
});
