/**
 * The Debian package end to end: scripts/package.sh builds critter_<version>_amd64.deb,
 * `dpkg -i` installs it on this host, the installed `critter` (its own Node under
 * /usr/lib/critter/node) answers `version`, accepts the shipped default config and, started
 * as a daemon without systemd on temp dirs, runs a pod on a private CNI network; then
 * `dpkg --purge` leaves none of the package's files, directories or state behind.
 * Skipped (loudly) where critter is already installed or its paths exist, where systemd
 * runs (postinst would start the real service) and where not root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, runAllowFailure } from '../../src/lib/exec.ts';
import { podSandboxConfig, startPodDaemon } from './helpers/pod-network.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);
/** Paths the package owns or creates; none may exist before (or after) the test. */
const OWNED = ['/usr/lib/critter', '/usr/bin/critter', '/etc/critter', '/lib/systemd/system/critter.service', '/usr/share/critter', '/usr/share/doc/critter', '/var/lib/critter-package', '/var/lib/critter'];

async function hostProblem(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'not root';
  if ((await runAllowFailure('dpkg-deb', ['--version'])).exitCode !== 0) return 'no dpkg-deb';
  if (await exists('/run/systemd/system')) return 'systemd runs here: postinst would start the real critter.service';
  const status = await runAllowFailure('dpkg-query', ['-W', '-f=${Status}', 'critter']);
  if (status.exitCode === 0 && !status.stdout.includes('not-installed')) return `the critter package is installed (${status.stdout})`;
  for (const p of OWNED) if (await exists(p)) return `${p} exists`;
  return undefined;
}

const problem = await hostProblem();
if (problem) process.stderr.write(`\n*** package test NOT run: ${problem} ***\n\n`);

async function listing(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => [] as string[]);
}

test('package.sh builds the .deb; dpkg -i installs it; the installed critter serves a pod; dpkg --purge leaves nothing', { skip: problem, timeout: 20 * 60_000 }, async () => {
  const version = (JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
  const nodeVersion = /^CRITTER_NODE_VERSION=(\S+)$/m.exec(await readFile(join(REPO, 'scripts/node-pin.sh'), 'utf8'))?.[1];
  const out = await mkdtemp(join(tmpdir(), 'critter-deb-'));
  const cniBefore = await listing('/etc/cni/net.d');
  const cniDirExisted = await exists('/etc/cni/net.d');
  try {
    await run('bash', [join(REPO, 'scripts/package.sh'), out], { timeoutMs: 15 * 60_000 });
    const deb = join(out, `critter_${version}_amd64.deb`);
    const fields = (await run('dpkg-deb', ['-f', deb, 'Package', 'Version', 'Architecture', 'Depends'])).stdout;
    assert.match(fields, new RegExp(`^Package: critter\nVersion: ${version.replace(/\./g, '\\.')}\nArchitecture: amd64\n`));
    for (const dep of ['libc6 (>= 2.34)', 'runc | crun', 'conmon', 'catatonit', 'containernetworking-plugins']) assert.ok(fields.includes(dep), `Depends lacks ${dep}: ${fields}`);
    const files = (await run('dpkg-deb', ['-c', deb])).stdout.split('\n').filter((l) => l.startsWith('-')).map((l) => l.replace(/^.* \.\//, '/'));
    for (const f of ['/usr/bin/critter', '/usr/lib/critter/node/bin/node', '/usr/lib/critter/dist/src/cli/main.js', '/lib/systemd/system/critter.service', '/etc/critter/critter.yaml', '/usr/share/critter/cni/10-critter-bridge.conflist']) {
      assert.ok(files.includes(f), `the package lacks ${f}`);
    }
    assert.ok(!files.some((f) => f.startsWith('/usr/lib/critter/dist/') && f.endsWith('.test.js')), "critter's tests are not shipped");
    assert.ok(!files.some((f) => f.includes('/node_modules/typescript') || f.includes('/node_modules/eslint/')), 'dev dependencies are not shipped');

    await run('dpkg', ['-i', deb], { timeoutMs: 5 * 60_000 });
    try {
      assert.equal((await run('/usr/lib/critter/node/bin/node', ['--version'])).stdout.trim(), `v${nodeVersion}`);
      assert.equal((await run('/usr/bin/critter', ['version'])).stdout.split('\n')[0], `critter ${version}`);
      assert.equal((await run('/usr/bin/critter', ['config', '--validate', '/etc/critter/critter.yaml'])).stdout.trim(), '/etc/critter/critter.yaml: valid');
      const unit = await readFile('/lib/systemd/system/critter.service', 'utf8');
      assert.match(unit, /^Type=notify$/m);
      assert.match(unit, /^ExecStart=\/usr\/lib\/critter\/node\/bin\/node .* \/usr\/lib\/critter\/dist\/src\/cli\/main\.js daemon$/m);
      // A host whose CNI dir was empty gets the default network; one with a network keeps it as it was.
      const cniNow = await listing('/etc/cni/net.d');
      assert.deepEqual(cniNow, cniBefore.length > 0 ? cniBefore : ['10-critter-bridge.conflist', '99-loopback.conf']);

      const pd = await startPodDaemon({ command: ['/usr/bin/critter'] });
      try {
        const v = await pd.daemon.client.call('Version', {});
        assert.equal(v.runtime_version, version);
        const { pod_sandbox_id: id } = await pd.daemon.client.call('RunPodSandbox', { config: podSandboxConfig('deb') });
        const s = await pd.daemon.client.call('PodSandboxStatus', { pod_sandbox_id: id });
        assert.equal(s.status.state, 0, 'SANDBOX_READY');
        assert.match(s.status.network.ip, /^\d+\.\d+\.\d+\.\d+$/);
        await pd.daemon.client.call('StopPodSandbox', { pod_sandbox_id: id });
        await pd.daemon.client.call('RemovePodSandbox', { pod_sandbox_id: id });
      } finally {
        await pd.close();
      }
    } finally {
      await run('dpkg', ['--purge', 'critter'], { timeoutMs: 5 * 60_000 });
    }
    const status = await runAllowFailure('dpkg-query', ['-W', '-f=${Status}', 'critter']);
    assert.ok(status.exitCode !== 0 || status.stdout.includes('not-installed'), `dpkg still knows critter: ${status.stdout}`);
    for (const f of files) assert.equal(await exists(f), false, `${f} left behind`);
    for (const p of OWNED) assert.equal(await exists(p), false, `${p} left behind`);
    assert.deepEqual(await listing('/etc/cni/net.d'), cniBefore);
    assert.equal(await exists('/etc/cni/net.d'), cniDirExisted);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
