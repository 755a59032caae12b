/**
 * A bounded request loop through a real edge (ops tests of swaps): GETs at a steady rate to one
 * site, each failure (non-2xx or a connection error) kept with when it was sent and answered,
 * so a test can tell the failures a network cut makes unavoidable from the ones it must not see.
 */
import { request } from 'node:http';
import { sleep } from './helpers.js';

export interface Answer {
  ok: boolean;
  text: string;
}

/** One GET of `/` through the edge at `address`:80 for `site` (a fresh connection each time). */
export function getThrough(address: string, site: string, timeoutMs = 5000): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request({ host: address, port: 80, path: '/', headers: { host: site, connection: 'close' }, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ ok: (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300, text: `${res.statusCode} ${body.trim()}` }));
      res.on('error', (e) => resolve({ ok: false, text: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ ok: false, text: e.message }));
    req.end();
  });
}

export interface Failure {
  sentAt: number;
  doneAt: number;
  text: string;
}

export interface LoopResult {
  sent: number;
  failures: Failure[];
  /** Answers by body ("200 v2" → count). */
  versions: Map<string, number>;
}

export interface RequestLoop {
  stop(): Promise<LoopResult>;
}

/** Requests every `everyMs` until stopped. */
export function requestLoop(address: string, site: string, everyMs = 50): RequestLoop {
  let running = true;
  let sent = 0;
  const failures: Failure[] = [];
  const versions = new Map<string, number>();
  const pending: Promise<void>[] = [];
  const ticker = (async () => {
    while (running) {
      sent++;
      const sentAt = Date.now();
      pending.push(
        getThrough(address, site).then((r) => {
          if (!r.ok) failures.push({ sentAt, doneAt: Date.now(), text: r.text });
          else versions.set(r.text, (versions.get(r.text) ?? 0) + 1);
        }),
      );
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await ticker;
      await Promise.all(pending);
      return { sent, failures, versions };
    },
  };
}

/** "v1×20, v2×13" */
export function describeVersions(versions: Map<string, number>): string {
  return [...versions].map(([v, n]) => `${v.replace(/^200 /, '')}×${n}`).join(', ');
}
