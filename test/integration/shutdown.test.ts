/** Shutdown with long-lived calls open: the daemon must not wait out its whole timeout. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, waitForMetric } from './helpers/daemon.ts';

test('SIGTERM ends open GetContainerEvents streams and exits 0 well before the shutdown timeout', async () => {
  const d = await startDaemon({ configYaml: 'shutdown_timeout_seconds: 60\n' });
  const stream = d.client.open('GetContainerEvents', {});
  const ended = new Promise<void>((resolve) => {
    stream.on('end', resolve);
    stream.on('error', () => resolve());
  });
  stream.on('data', () => undefined);
  // The subscription has reached the daemon before it is asked to stop.
  await waitForMetric(d, 'critter_container_event_subscribers', 1);
  const started = Date.now();
  const code = await d.stop();
  const ms = Date.now() - started;
  await ended;
  assert.equal(code, 0);
  assert.ok(ms < 10_000, `shutdown took ${ms} ms`);
});
