import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { FailedPreconditionError } from '../lib/errors.ts';
import { AppArmorProfileLoader, detectAppArmor, parseLoadedProfiles, type AppArmorPaths } from './apparmor.ts';
import { PROFILE_TEMPLATE_PATH } from './apparmor-profile.ts';

const op = { log: pino({ level: 'silent' }), signal: new AbortController().signal };
let work: string;
let n = 0;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'critter-apparmor-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A fake securityfs and module flag in a fresh directory. */
async function fakeHost(opts: { flag?: string; securityfs?: boolean; profiles?: string } = {}): Promise<{ dir: string; paths: AppArmorPaths }> {
  const dir = join(work, `host${++n}`);
  await mkdir(dir);
  const paths: AppArmorPaths = { enabledFile: join(dir, 'enabled'), securityfsDir: join(dir, 'securityfs'), profilesFile: join(dir, 'securityfs', 'profiles') };
  if (opts.flag !== undefined) await writeFile(paths.enabledFile, `${opts.flag}\n`);
  if (opts.securityfs !== false) {
    await mkdir(paths.securityfsDir);
    await writeFile(paths.profilesFile, opts.profiles ?? '');
  }
  return { dir, paths };
}

/**
 * A stand-in apparmor_parser: records its argv and stdin, then "loads" the profile named on
 * the `profile` line of its input by appending it to the fake profiles file, or fails.
 */
async function fakeParser(dir: string, paths: AppArmorPaths, mode: 'load' | 'fail' | 'no-op'): Promise<string> {
  const script = join(dir, 'apparmor_parser');
  const body = {
    load: `sed -n 's/^profile \\([^ ]*\\) .*/\\1 (enforce)/p' "${dir}/stdin" >> "${paths.profilesFile}"`,
    fail: 'echo "AppArmor parser error at line 3: syntax error" >&2; exit 1',
    'no-op': 'true',
  }[mode];
  await writeFile(script, `#!/bin/sh\necho "$@" >> "${dir}/argv"\ncat > "${dir}/stdin"\n${body}\n`);
  await chmod(script, 0o755);
  return script;
}

describe('detectAppArmor()', () => {
  it('detectAppArmor() is enabled only with the module flag Y and securityfs present', async () => {
    assert.equal((await detectAppArmor((await fakeHost({ flag: 'Y' })).paths)).enabled, true);
    const off = await detectAppArmor((await fakeHost({ flag: 'N' })).paths);
    assert.deepEqual(off, { enabled: false, detail: off.detail });
    assert.match(off.detail, /not enabled on this host .*"N"/);
    assert.match((await detectAppArmor((await fakeHost({})).paths)).detail, /no AppArmor module/);
    const noFs = await detectAppArmor((await fakeHost({ flag: 'Y', securityfs: false })).paths);
    assert.equal(noFs.enabled, false);
    assert.match(noFs.detail, /securityfs not mounted/);
  });
});

describe('parseLoadedProfiles()', () => {
  it('parseLoadedProfiles() reads "name (mode)" lines, names with spaces included', () => {
    const text = 'critter-default (enforce)\n/usr/bin/man (enforce)\nsnap.x//hat (complain)\nname with space (enforce)\n\n';
    assert.deepEqual([...parseLoadedProfiles(text)], ['critter-default', '/usr/bin/man', 'snap.x//hat', 'name with space']);
    assert.equal(parseLoadedProfiles('').size, 0);
  });
});

describe('AppArmorProfileLoader', () => {
  it('AppArmorProfileLoader.ensureLoaded() renders the template and loads it with -Kr on stdin', async () => {
    const { dir, paths } = await fakeHost({ flag: 'Y', profiles: 'other (enforce)\n' });
    const parser = await fakeParser(dir, paths, 'load');
    const loader = new AppArmorProfileLoader({ paths, parser, policyDir: join(dir, 'no-policy'), currentAttr: join(dir, 'none') });
    assert.equal(await loader.ensureLoaded(op, 'critter-default'), 'loaded');
    assert.equal((await readFile(join(dir, 'argv'), 'utf8')).trim(), '-Kr');
    const profile = await readFile(join(dir, 'stdin'), 'utf8');
    assert.match(profile, /^profile critter-default flags=\(attach_disconnected,mediate_deleted\) \{$/m);
    assert.match(profile, /^@\{PROC\}=\/proc\/$/m, 'without tunables/global @{PROC} is defined in the profile');
    assert.match(profile, /signal \(receive\) peer=unconfined,/);
    assert.doesNotMatch(profile, /\{\{/);
    assert.match(await readFile(paths.profilesFile, 'utf8'), /^critter-default \(enforce\)$/m);
  });

  it('AppArmorProfileLoader.ensureLoaded() does not run the parser for a profile already loaded', async () => {
    const { dir, paths } = await fakeHost({ flag: 'Y', profiles: 'critter-default (enforce)\n' });
    const parser = await fakeParser(dir, paths, 'load');
    assert.equal(await new AppArmorProfileLoader({ paths, parser }).ensureLoaded(op, 'critter-default'), 'present');
    await assert.rejects(readFile(join(dir, 'argv')), { code: 'ENOENT' });
  });

  it('AppArmorProfileLoader.ensureLoaded() runs the parser once for concurrent calls', async () => {
    const { dir, paths } = await fakeHost({ flag: 'Y' });
    const parser = await fakeParser(dir, paths, 'load');
    const loader = new AppArmorProfileLoader({ paths, parser });
    const results = await Promise.all([loader.ensureLoaded(op, 'critter-default'), loader.ensureLoaded(op, 'critter-default')]);
    assert.deepEqual(results.sort(), ['loaded', 'present']);
    assert.equal((await readFile(join(dir, 'argv'), 'utf8')).trim().split('\n').length, 1);
  });

  it('AppArmorProfileLoader.ensureLoaded() without apparmor_parser names it and its package', async () => {
    const { paths } = await fakeHost({ flag: 'Y' });
    const loader = new AppArmorProfileLoader({ paths, parser: join(work, 'nonexistent', 'apparmor_parser') });
    await assert.rejects(loader.ensureLoaded(op, 'critter-default'), (err: Error) => {
      assert.ok(err instanceof FailedPreconditionError);
      assert.match(err.message, /cannot load AppArmor profile "critter-default": .*apparmor_parser not found \(Debian package apparmor\)/);
      return true;
    });
  });

  it('AppArmorProfileLoader.ensureLoaded() keeps the parser\'s stderr when it fails', async () => {
    const { dir, paths } = await fakeHost({ flag: 'Y' });
    const loader = new AppArmorProfileLoader({ paths, parser: await fakeParser(dir, paths, 'fail') });
    await assert.rejects(loader.ensureLoaded(op, 'critter-default'), (err: Error) => {
      assert.ok(err instanceof FailedPreconditionError);
      assert.match(err.message, /cannot load AppArmor profile "critter-default" with .*apparmor_parser: .*syntax error/);
      return true;
    });
  });

  it('AppArmorProfileLoader.ensureLoaded() fails when the parser succeeds but the profile is not listed', async () => {
    const { dir, paths } = await fakeHost({ flag: 'Y' });
    const loader = new AppArmorProfileLoader({ paths, parser: await fakeParser(dir, paths, 'no-op') });
    await assert.rejects(loader.ensureLoaded(op, 'critter-default'), /is not listed in .*profiles after/);
  });

  it('AppArmorProfileLoader.ensureLoaded() names an unreadable template', async () => {
    const { dir, paths } = await fakeHost({ flag: 'Y' });
    const loader = new AppArmorProfileLoader({ paths, parser: await fakeParser(dir, paths, 'load'), templatePath: join(dir, 'missing.tmpl') });
    await assert.rejects(loader.ensureLoaded(op, 'critter-default'), /template .*missing\.tmpl unreadable/);
  });

  it('AppArmorProfileLoader uses the template shipped in the project', async () => {
    assert.match(await readFile(PROFILE_TEMPLATE_PATH, 'utf8'), /profile \{\{name\}\} flags=/);
  });
});
