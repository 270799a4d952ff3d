/**
 * NetworkReady until the CNI config watcher lands: true when the conf dir holds a network
 * configuration file. Checked on every Status call (cheap: one readdir, cached for 1 s).
 */
import { readdirSync } from 'node:fs';
import type { Condition, NetworkReadiness } from '../runtime/info-service.ts';

const CONF = /\.(conflist|conf|json)$/;

export class CniConfDirProbe implements NetworkReadiness {
  #dir: string;
  #cached: { at: number; cond: Condition } | undefined;

  constructor(dir: string) {
    this.#dir = dir;
  }

  networkCondition(): Condition {
    const now = Date.now();
    if (this.#cached && now - this.#cached.at < 1000) return this.#cached.cond;
    let files: string[] = [];
    try {
      files = readdirSync(this.#dir).filter((f) => CONF.test(f));
    } catch {
      files = [];
    }
    const cond: Condition = files.length
      ? { type: 'NetworkReady', status: true, reason: '', message: '' }
      : { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: `Network plugin returns error: no CNI configuration file in ${this.#dir}` };
    this.#cached = { at: now, cond };
    return cond;
  }
}
