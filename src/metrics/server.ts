/**
 * The metrics listener: GET /metrics in Prometheus text format on its own address
 * (default 127.0.0.1:9090), apart from the CRI socket so scraping needs no gRPC.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.ts';
import { httpServerOptions, limitServer } from '../lib/http-limits.ts';

export class MetricsServer {
  #server: Server | undefined;
  readonly #deps: { metrics: Metrics; address: string; port: number; log: Logger };

  constructor(deps: { metrics: Metrics; address: string; port: number; log: Logger }) {
    this.#deps = deps;
  }

  async start(): Promise<void> {
    const { metrics, address, port, log } = this.#deps;
    const server = limitServer(createServer(httpServerOptions(), (req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try GET /metrics\n');
        return;
      }
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(prometheusNaN(text)),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics collection failed: ${String(err)}\n`),
      );
    }));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => resolve());
    });
    this.#server = server;
    log.info({ address: this.url() }, 'Serving metrics');
  }

  url(): string {
    const a = this.#server?.address() as AddressInfo | null;
    return a ? `http://${a.address}:${a.port}/metrics` : '';
  }

  async close(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (s) await new Promise<void>((resolve) => { s.close(() => resolve()); s.closeAllConnections(); });
  }
}

/**
 * prom-client prints a NaN gauge as `Nan`; the exposition format spells it `NaN`. The
 * event-loop lag gauges are NaN when two scrapes fall within one monitor interval (no
 * delay sampled in between).
 */
export function prometheusNaN(text: string): string {
  return text.replace(/ Nan$/gm, ' NaN');
}
