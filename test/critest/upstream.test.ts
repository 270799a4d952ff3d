/**
 * Runs the upstream CRI validation suite (critest, kubernetes-sigs/cri-tools ≥ 1.31) against
 * a critter daemon, offline: the images critest hard-codes are built here and served by a
 * local registry, and the daemon's registries.conf rewrites the public registries to it.
 *
 * Skipped (with the reason shown by the test runner) when no critest binary is found on
 * PATH or in $CRITEST. $CRITEST_FOCUS adds --ginkgo.focus; $CRITEST_REPORT_DIR keeps the
 * full critest output there.
 *
 * The daemon runs its pods without a pause image (catatonit infra process), so
 * HOST/pause:3.9 is only ever pulled by the suite itself, which the "remove all tags"
 * image spec relies on.
 */
import assert from 'node:assert/strict';
import { access, constants, mkdir, readFile, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';
import { run, runAllowFailure } from '../../src/lib/exec.ts';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { buildUpstreamCritestImages, repoRoot } from './upstream-images.ts';

const SUITE_TIMEOUT_MS = 30 * 60_000;

async function findCritest(): Promise<string | undefined> {
  const candidates = process.env.CRITEST ? [process.env.CRITEST] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, 'critest'));
  for (const c of candidates) {
    if (await access(c, constants.X_OK).then(() => true, () => false)) return c;
  }
  return undefined;
}

/** Skip entries: `<regex>  # <reason>` per line; `#` lines are comments. */
export function parseSkipList(text: string): { pattern: string; reason: string }[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((line) => {
    const at = line.indexOf(' # ');
    const pattern = at < 0 ? line : line.slice(0, at).trim();
    const reason = at < 0 ? '' : line.slice(at + 3).trim();
    if (!reason) throw new Error(`upstream-skips.txt: "${line}" gives no reason (write "<regex>  # <reason>")`);
    return { pattern, reason };
  });
}

/** Ginkgo v2's summary: "Ran 94 of 122 Specs …" and "… 91 Passed | 3 Failed | 0 Pending | 28 Skipped". */
export function parseGinkgoSummary(out: string): { ran: number; total: number; passed: number; failed: number; pending: number; skipped: number } | undefined {
  const ran = /Ran (\d+) of (\d+) Specs?/.exec(out);
  const counts = /(\d+) Passed \| (\d+) Failed \| (?:(\d+) Flaked \| )?(\d+) Pending \| (\d+) Skipped/.exec(out);
  if (!ran || !counts) return undefined;
  return { ran: +ran[1]!, total: +ran[2]!, passed: +counts[1]!, failed: +counts[2]!, pending: +counts[4]!, skipped: +counts[5]! };
}

/** IDs of the SysV shared-memory segments that exist now (`ipcs -m`). */
async function shmIds(): Promise<Set<string>> {
  const { stdout } = await runAllowFailure('ipcs', ['-m'], { timeoutMs: 10_000 });
  return new Set(stdout.split('\n').filter((l) => /^0x[0-9a-f]+\s/.test(l)).map((l) => l.split(/\s+/)[1]!));
}

const critest = await findCritest();
const skipFile = join(await repoRoot(), 'test', 'critest', 'upstream-skips.txt');

test('critest (upstream CRI validation) passes against critter', {
  skip: critest ? false : 'no critest binary on PATH (or $CRITEST): upstream conformance suite NOT run; install cri-tools >= 1.31 to run it',
  timeout: SUITE_TIMEOUT_MS,
}, async (t) => {
  const skips = parseSkipList(await readFile(skipFile, 'utf8'));
  let registry: RunningRegistry | undefined;
  let pods: { daemon: { dirs: { socket: string }; logs(): string }; close(): Promise<void> } | undefined;
  // The host-IPC specs leave SysV segments behind; remove the ones the run created.
  const shmBefore = await shmIds();
  try {
    registry = await startRegistry();
    const t0 = Date.now();
    const images = await buildUpstreamCritestImages(registry);
    t.diagnostic(`pushed ${Object.keys(images).length} critest image tags in ${Date.now() - t0} ms`);
    // Imported here so that a skipped run does not depend on the daemon code loading.
    // critest runs pods on the pod network, so the daemon gets a private CNI network.
    const { startPodDaemon } = await import('../integration/helpers/pod-network.ts');
    pods = await startPodDaemon({ registriesConf: registriesConfText(registry.host) });
    const daemon = pods.daemon;
    const endpoint = `unix://${daemon.dirs.socket}`;
    const args = [
      `--runtime-endpoint=${endpoint}`, `--image-endpoint=${endpoint}`,
      `--ginkgo.skip=${skips.map((s) => s.pattern).join('|')}`, '--ginkgo.no-color',
      ...(process.env.CRITEST_FOCUS ? [`--ginkgo.focus=${process.env.CRITEST_FOCUS}`] : []),
    ];
    const res = await runAllowFailure(critest!, args, { timeoutMs: SUITE_TIMEOUT_MS - 60_000, maxOutput: 64 * 1024 * 1024 });
    const output = `${res.stdout}\n${res.stderr}`;
    if (process.env.CRITEST_REPORT_DIR) {
      await mkdir(process.env.CRITEST_REPORT_DIR, { recursive: true });
      await writeFile(join(process.env.CRITEST_REPORT_DIR, 'critest.log'), output);
      await writeFile(join(process.env.CRITEST_REPORT_DIR, 'critter.log'), daemon.logs());
    }
    const summary = parseGinkgoSummary(output);
    t.diagnostic(summary
      ? `critest: ran ${summary.ran} of ${summary.total} specs: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped (${skips.length} by upstream-skips.txt)`
      : 'critest printed no Ginkgo summary');
    const failures = output.split('\n').filter((l) => /^\s*\[FAIL\]/.test(l));
    assert.equal(res.exitCode, 0, `critest exited ${res.exitCode}\n${failures.join('\n')}\n--- last lines ---\n${output.split('\n').slice(-60).join('\n')}`);
    assert.ok(summary && summary.failed === 0 && summary.passed > 0, 'critest summary shows passes and no failures');
  } finally {
    // close() removes the pods critest left, stops the daemon and frees the network; the
    // registry must stop even if that fails.
    await pods?.close().catch((err: unknown) => t.diagnostic(`cleanup of the daemon failed: ${String(err)}`));
    await registry?.stop();
    for (const id of await shmIds()) {
      if (!shmBefore.has(id)) await run('ipcrm', ['-m', id], { timeoutMs: 10_000 }).catch(() => undefined);
    }
  }
});

test('parseSkipList() gives every upstream-skips.txt entry a reason', async () => {
  const entries = parseSkipList(await readFile(skipFile, 'utf8'));
  assert.ok(entries.length > 0);
  for (const e of entries) {
    assert.doesNotThrow(() => new RegExp(e.pattern), e.pattern);
    assert.ok(e.reason.length > 10, `reason for ${e.pattern}`);
  }
  assert.throws(() => parseSkipList('some spec\n'), /gives no reason/);
});

test('parseGinkgoSummary() reads Ginkgo v2 counts', () => {
  const out = 'Ran 94 of 122 Specs in 80.123 seconds\nFAIL! -- 91 Passed | 3 Failed | 0 Pending | 28 Skipped\n';
  assert.deepEqual(parseGinkgoSummary(out), { ran: 94, total: 122, passed: 91, failed: 3, pending: 0, skipped: 28 });
  assert.equal(parseGinkgoSummary('no summary'), undefined);
});
