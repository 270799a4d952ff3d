import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FailedPreconditionError, InvalidArgumentError } from '../lib/errors.ts';
import { formatReference, parseNormalisedReference, parseReference } from './reference.ts';
import { RegistriesConf, matchPrefix } from './registries-conf.ts';

const DIGEST = `sha256:${'c'.repeat(64)}`;

async function withConf(files: Record<string, string>, fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'registries-conf-'));
  try {
    await mkdir(join(dir, 'registries.conf.d'));
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    await fn(join(dir, 'registries.conf'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function sources(conf: RegistriesConf, ref: string): string[] {
  return conf.pullSources(parseNormalisedReference(ref)).map((s) => `${formatReference(s.reference)}${s.insecure ? ' insecure' : ''}${s.mirror ? ' mirror' : ''}`);
}

test('RegistriesConf.load() treats a missing file as defaults', async () => {
  await withConf({}, async (path) => {
    const conf = await RegistriesConf.load(path);
    assert.deepEqual(sources(conf, 'busybox'), ['docker.io/library/busybox:latest']);
    const res = conf.resolveShortName(parseReference('busybox'));
    assert.equal(res.origin, 'docker');
    assert.deepEqual(res.candidates.map(formatReference), ['docker.io/library/busybox:latest']);
  });
});

test('RegistriesConf.pullSources() lists mirrors first, rewrites the location, honours pull-from-mirror', async () => {
  const main = `
[[registry]]
prefix = "registry.k8s.io"
location = "127.0.0.1:5000/k8s"
insecure = true
[[registry.mirror]]
location = "mirror-a.example.com/k8s"
[[registry.mirror]]
location = "mirror-b.example.com"
insecure = true
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "mirror-c.example.com"
pull-from-mirror = "tag-only"

[[registry]]
prefix = "registry.k8s.io/special"
location = "special.example.com/x"
`;
  await withConf({ 'registries.conf': main }, async (path) => {
    const conf = await RegistriesConf.load(path);
    assert.deepEqual(sources(conf, 'registry.k8s.io/pause:3.10'), [
      'mirror-a.example.com/k8s/pause:3.10 mirror',
      'mirror-c.example.com/pause:3.10 mirror',
      '127.0.0.1:5000/k8s/pause:3.10 insecure',
    ]);
    assert.deepEqual(sources(conf, `registry.k8s.io/pause@${DIGEST}`), [
      `mirror-a.example.com/k8s/pause@${DIGEST} mirror`,
      `mirror-b.example.com/pause@${DIGEST} insecure mirror`,
      `127.0.0.1:5000/k8s/pause@${DIGEST} insecure`,
    ]);
    // Longest prefix wins.
    assert.deepEqual(sources(conf, 'registry.k8s.io/special/img:1'), ['special.example.com/x/img:1']);
    // A prefix matches only at a component boundary.
    assert.deepEqual(sources(conf, 'registry.k8s.io.evil.com/pause:1'), ['registry.k8s.io.evil.com/pause:1']);
  });
});

test('RegistriesConf.pullSources() refuses a blocked registry naming it', async () => {
  const text = '[[registry]]\nprefix = "*.blocked.example.com"\nblocked = true\n';
  await withConf({ 'registries.conf': text }, async (path) => {
    const conf = await RegistriesConf.load(path);
    assert.throws(() => conf.pullSources(parseNormalisedReference('a.blocked.example.com/app:1')), (err: unknown) => {
      assert.ok(err instanceof FailedPreconditionError);
      assert.match(err.message, /"a\.blocked\.example\.com\/app:1".*"\*\.blocked\.example\.com" is blocked in .*registries\.conf/);
      return true;
    });
    assert.equal(sources(conf, 'blocked.example.com/app:1').length, 1);
  });
});

test('RegistriesConf.load() merges drop-ins in lexical order', async () => {
  const files = {
    'registries.conf': `
unqualified-search-registries = ["quay.io"]
short-name-mode = "enforcing"
[aliases]
"pause" = "registry.k8s.io/pause"
"gone" = "example.com/gone"
[[registry]]
location = "quay.io"
insecure = false
`,
    'registries.conf.d/10-a.conf': `
unqualified-search-registries = ["one.example.com", "two.example.com"]
[aliases]
"gone" = ""
"myapp" = "example.com/team/myapp"
[[registry]]
location = "quay.io"
insecure = true
`,
    'registries.conf.d/20-b.conf': 'short-name-mode = "permissive"\n',
    'registries.conf.d/ignored.txt': 'not toml at all [[[',
  };
  await withConf(files, async (path) => {
    const conf = await RegistriesConf.load(path);
    assert.deepEqual(sources(conf, 'quay.io/a/b:1'), ['quay.io/a/b:1 insecure']);
    const alias = conf.resolveShortName(parseReference('pause:3.10'));
    assert.equal(alias.origin, 'alias');
    assert.deepEqual(alias.candidates.map(formatReference), ['registry.k8s.io/pause:3.10']);
    assert.deepEqual(conf.resolveShortName(parseReference('myapp')).candidates.map(formatReference), ['example.com/team/myapp:latest']);
    const search = conf.resolveShortName(parseReference('gone'));
    assert.equal(search.origin, 'search');
    assert.deepEqual(search.candidates.map(formatReference), ['one.example.com/gone:latest', 'two.example.com/gone:latest']);
  });
});

test('RegistriesConf.resolveShortName() refuses ambiguity in enforcing mode', async () => {
  const text = 'unqualified-search-registries = ["docker.io", "quay.io"]\nshort-name-mode = "enforcing"\n';
  await withConf({ 'registries.conf': text }, async (path) => {
    const conf = await RegistriesConf.load(path);
    assert.throws(() => conf.resolveShortName(parseReference('busybox')), /short name "busybox" is ambiguous/);
    assert.deepEqual(conf.resolveShortName(parseReference('quay.io/x')).candidates.map(formatReference), ['quay.io/x:latest']);
  });
  await withConf({ 'registries.conf': 'unqualified-search-registries = ["docker.io", "quay.io"]\n' }, async (path) => {
    const conf = await RegistriesConf.load(path);
    const res = conf.resolveShortName(parseReference(`busybox@${DIGEST}`));
    assert.deepEqual(res.candidates.map(formatReference), [`docker.io/library/busybox@${DIGEST}`, `quay.io/busybox@${DIGEST}`]);
  });
});

test('RegistriesConf.load() names the file, key and value of a bad setting', async () => {
  const cases: [string, RegExp][] = [
    ['short-name-mode = "sometimes"', /50-bad\.conf: short-name-mode = "sometimes": must be one of/],
    ['[[registry]]\nlocation = "https://x.example.com"', /registry\[0\]\.location = "https:\/\/x\.example\.com": must not contain a URI scheme/],
    ['[[registry]]\nlocation = "x.example.com"\n[[registry.mirror]]\nlocation = "m"\npull-from-mirror = "never"', /registry\[0\]\.mirror\[0\]\.pull-from-mirror = "never"/],
    ['[[registry]]\nlocation = "a.io"\n[[registry]]\nlocation = "a.io"', /registry\[1\]\.prefix = "a\.io": defined more than once/],
    ['[[registry]]\nprefix = "example.com"', /registry\[0\]\.location = "": may be empty only with a wildcard prefix/],
    ['unqualified-search-registries = "docker.io"', /unqualified-search-registries = "docker\.io"/],
    ['[registries.search]\nregistries = ["a"]', /version 1 format .* is not supported/],
    ['this is = = not toml', /50-bad\.conf: invalid TOML/],
  ];
  for (const [text, want] of cases) {
    await withConf({ 'registries.conf.d/50-bad.conf': text }, async (path) => {
      await assert.rejects(RegistriesConf.load(path), (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError, text);
        assert.match(err.message, want);
        assert.match(err.message, /50-bad\.conf/);
        return true;
      });
    });
  }
});

test('matchPrefix() matches at component boundaries and wildcard subdomains', () => {
  assert.equal(matchPrefix('example.com/a:1', 'example.com'), 11);
  assert.equal(matchPrefix('example.com/a:1', 'example.com/a'), 13);
  assert.equal(matchPrefix('example.com/ab:1', 'example.com/a'), -1);
  assert.equal(matchPrefix('x.y.example.com/a', '*.example.com'), 15);
  assert.equal(matchPrefix('example.com/a', '*.example.com'), -1);
  assert.equal(matchPrefix('other.com/x.example.com', '*.example.com'), -1);
});
