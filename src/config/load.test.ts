import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig, validateConfigFile } from './load.ts';
import { renderConfig } from './render.ts';
import { SCHEMA } from './schema.ts';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'critter-config-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('loadConfig() gives every documented default for an empty file', async () => {
  await withDir(async (dir) => {
    const f = join(dir, 'critter.yaml');
    await writeFile(f, '# nothing set\n');
    const { config, sources } = await loadConfig({ file: f });
    assert.equal(config.socket, '/run/critter/critter.sock');
    assert.equal(config.root, '/var/lib/critter');
    assert.equal(config.cgroup_driver, 'cgroupfs');
    assert.equal(config.runtime.handlers.runc?.root, '/run/critter/runtime/runc');
    assert.deepEqual(sources, [f]);
  });
});

test('loadConfig() refuses an explicit file that does not exist, naming it', async () => {
  await withDir(async (dir) => {
    const f = join(dir, 'nope.yaml');
    await assert.rejects(loadConfig({ file: f }), (err: Error) => err.message.includes(f));
  });
});

test('loadConfig() applies file, then drop-ins in lexical order, then flags', async () => {
  await withDir(async (dir) => {
    const f = join(dir, 'critter.yaml');
    await writeFile(f, 'log_level: warn\ncgroup_driver: systemd\nimage:\n  max_parallel_layers: 5\n');
    await mkdir(join(dir, 'critter.d'));
    await writeFile(join(dir, 'critter.d', '20-b.yaml'), 'log_level: error\n');
    await writeFile(join(dir, 'critter.d', '10-a.yaml'), 'log_level: debug\nimage:\n  max_parallel_layers: 7\n');
    await writeFile(join(dir, 'critter.d', 'ignored.txt'), 'log_level: nonsense\n');
    const { config, sources } = await loadConfig({ file: f, overrides: { socket: join(dir, 's.sock') } });
    assert.equal(config.log_level, 'error');
    assert.equal(config.cgroup_driver, 'systemd');
    assert.equal(config.image.max_parallel_layers, 7);
    assert.equal(config.socket, join(dir, 's.sock'));
    assert.deepEqual(sources, [f, join(dir, 'critter.d', '10-a.yaml'), join(dir, 'critter.d', '20-b.yaml')]);
    assert.ok(Object.isFrozen(config.image));
  });
});

const bad: [string, string, string[]][] = [
  ['unknown key', 'sockett: /x\n', ['sockett']],
  ['unknown nested key', 'image:\n  pinned: []\n', ['image.pinned']],
  ['wrong type', 'shutdown_timeout_seconds: soon\n', ['shutdown_timeout_seconds', 'soon', 'integer']],
  ['out of range', 'streaming:\n  port: 70000\n', ['streaming.port', '70000']],
  ['bad enum', 'cgroup_driver: cgroupv3\n', ['cgroup_driver', 'cgroupv3', 'cgroupfs']],
  ['relative plugin dir', 'cni:\n  plugin_dirs: [bin]\n', ['cni.plugin_dirs', 'bin']],
  ['default handler missing', 'runtime:\n  default_handler: kata\n', ['runtime.default_handler', 'kata']],
  ['handler without path', 'runtime:\n  handlers:\n    runc: {}\n', ['runtime.handlers', 'runc']],
  ['not YAML', 'a: [\n', ['not valid YAML']],
];
for (const [what, text, needles] of bad) {
  test(`loadConfig() refuses ${what} naming the file, key and value`, async () => {
    await withDir(async (dir) => {
      const f = join(dir, 'critter.yaml');
      await writeFile(f, text);
      await assert.rejects(loadConfig({ file: f }), (err: Error) => {
        for (const n of needles) assert.ok(err.message.includes(n), `${err.message} should mention ${n}`);
        if (!err.message.includes('default_handler')) assert.ok(err.message.includes(f), `${err.message} should name the file`);
        return true;
      });
    });
  });
}

test('validateConfigFile() checks a file without the default file', async () => {
  await withDir(async (dir) => {
    const f = join(dir, 'x.yaml');
    await writeFile(f, 'metrics:\n  enabled: maybe\n');
    await assert.rejects(validateConfigFile(f), /metrics\.enabled/);
    await writeFile(f, 'metrics:\n  enabled: false\n');
    await validateConfigFile(f);
  });
});

test('renderConfig() output loads back to the same config and documents every key', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 'empty.yaml'), '');
    const { config } = await loadConfig({ file: join(dir, 'empty.yaml') });
    const text = renderConfig(config);
    for (const key of Object.keys(SCHEMA)) assert.ok(text.includes(key.split('.').pop() + ':'), key);
    const f = join(dir, 'rendered.yaml');
    await writeFile(f, text);
    const again = await loadConfig({ file: f });
    assert.deepEqual(parse(renderConfig(again.config)), parse(text));
  });
});

test('deploy/critter.yaml documents exactly the defaults', async () => {
  const file = new URL('../../../deploy/critter.yaml', import.meta.url).pathname;
  await withDir(async (dir) => {
    await writeFile(join(dir, 'empty.yaml'), '');
    const defaults = await loadConfig({ file: join(dir, 'empty.yaml') });
    const shipped = await loadConfig({ file });
    assert.deepEqual(shipped.config, defaults.config);
  });
});

test('loadConfig() reads cdi.spec_dirs with its default and refuses a relative dir, naming the key', async () => {
  await withDir(async (dir) => {
    const f = join(dir, 'critter.yaml');
    await writeFile(f, '# nothing set\n');
    assert.deepEqual((await loadConfig({ file: f })).config.cdi.spec_dirs, ['/etc/cdi', '/var/run/cdi']);
    await writeFile(f, 'cdi:\n  spec_dirs: [/opt/cdi]\n');
    assert.deepEqual((await loadConfig({ file: f })).config.cdi.spec_dirs, ['/opt/cdi']);
    await writeFile(f, 'cdi:\n  spec_dirs: [etc/cdi]\n');
    await assert.rejects(loadConfig({ file: f }), (err: Error) => err.message.includes('cdi.spec_dirs') && err.message.includes('etc/cdi'));
  });
});
