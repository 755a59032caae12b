/**
 * `ui`: the dashboard's HTTP server. Bound to 127.0.0.1 only; every path sits under an
 * unguessable token (/<token>/…, as Jupyter's ?token=), checked in constant time, and the
 * Host header must name this server (a DNS-rebinding page cannot borrow it). Answers are
 * the --json documents of the CLI verbs, produced by the same use cases (src/app): impact,
 * drain, status (pushed as server-sent events every interval), drift (when asked), and, only with
 * --allow-actions, restart / deploy / rollback — POST, same Origin, JSON body, and the
 * page's CSRF token in a header.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ManageAppsError } from '../errors.js';
import type { DashboardSettings, RunningDashboard } from '../app/dashboard.js';
import { buildPage } from '../app/page.js';
import { DEPLOY_DEFAULTS } from '../ops/deploy/types.js';
import { LIFECYCLE_DEFAULTS } from '../ops/lifecycle.js';
import { SilentProgress } from '../ops/progress.js';
import { FleetSnapshots } from '../app/fleet-snapshots.js';

/** How long a one-time link (`ui --open`) can be redeemed. */
export const ONE_TIME_LINK_MS = 60_000;

export const ACTION_VERBS = ['restart', 'deploy', 'rollback'] as const;
type ActionVerb = (typeof ACTION_VERBS)[number];
/** A target as the ops verbs take it (project, project:env, project@host, host). */
const TARGET = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,200}$/;
const MAX_BODY = 4096;

const sameSecret = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-resource-policy': 'same-origin',
  });
  res.end(body);
}
const sendJson = (res: ServerResponse, status: number, value: unknown) => send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
const refuse = (res: ServerResponse, status: number, code: string, message: string) => sendJson(res, status, { error: { code, message } });

function errorDoc(err: unknown): { status: number; body: unknown } {
  if (err instanceof ManageAppsError)
    return { status: 400, body: { error: { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) } } };
  return { status: 500, body: { error: { code: 'E_INTERNAL', message: err instanceof Error ? err.message : String(err) } } };
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function startDashboard(options: DashboardSettings): Promise<RunningDashboard> {
  const token = randomBytes(24).toString('base64url');
  const csrf = randomBytes(24).toString('base64url');
  const intervalS = options.interval;
  const { source: fleetOptions, given } = options;
  const everything = { targets: [] };
  const snapshots = new FleetSnapshots(fleetOptions);
  const live = { interval: intervalS, allowActions: options.allowActions === true, csrf };
  const loadPage = () => snapshots.page((answers) => buildPage(answers, fleetOptions, 'live', live, snapshots.layoutFor));
  const clients = new Set<ServerResponse>();
  let lastStatus: { event: string; data: string } | undefined;
  let statusLoop: Promise<void> | undefined;
  let closing = false;
  /** Wakes the status loop from its wait (on close). */
  let wake: (() => void) | undefined;
  let actionRunning = false;
  let port = 0;
  /** Unredeemed one-time links: code → expiry. */
  const links = new Map<string, number>();

  const broadcast = (event: string, data: string) => {
    lastStatus = { event, data };
    for (const c of clients) c.write(`event: ${event}\ndata: ${data}\n\n`);
  };

  /** One `status` round per interval while a page listens; rounds never overlap. */
  const runStatusLoop = async () => {
    const { status } = await import('../app/status.js');
    while (clients.size > 0 && !closing) {
      const started = Date.now();
      try {
        broadcast('status', JSON.stringify((await status(fleetOptions, everything, given)).document));
      } catch (err) {
        broadcast('status-error', JSON.stringify(errorDoc(err).body));
      }
      const wait = Math.max(200, intervalS * 1000 - (Date.now() - started));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    statusLoop = undefined;
  };

  /** As `manage-apps restart|deploy|rollback TARGET --json` would run it: every choice at its default. */
  const runAction = async (verb: ActionVerb, target: string) => {
    const selector = { targets: [target] };
    const quiet = new SilentProgress();
    if (verb === 'restart')
      return (await import('../app/lifecycle.js')).lifecycle('restart', fleetOptions, selector, given, { ...LIFECYCLE_DEFAULTS, deps: true }, quiet);
    const { deploy, rollback } = await import('../app/deploy.js');
    if (verb === 'deploy') return deploy(fleetOptions, selector, given, DEPLOY_DEFAULTS, quiet);
    return rollback(fleetOptions, selector, given, DEPLOY_DEFAULTS, quiet);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const host = req.headers.host ?? '';
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`)
      return refuse(res, 403, 'E_HOST', 'this server answers only to 127.0.0.1 and localhost');
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const [first, ...rest] = url.pathname.split('/').slice(1);
    if (first === 'open' && rest.length === 1 && req.method === 'GET') {
      // A one-time link: redeemed once (the code is forgotten first), then a redirect to the token URL.
      const code = rest[0]!;
      const found = [...links.keys()].find((k) => sameSecret(k, code));
      const expires = found === undefined ? undefined : links.get(found);
      if (found !== undefined) links.delete(found);
      if (expires === undefined || expires < Date.now())
        return refuse(
          res,
          403,
          'E_LINK',
          'this one-time link was already used or has expired: open the URL `ui` printed (if you did not use the link, someone else on this machine did: stop the dashboard)',
        );
      res.writeHead(303, { location: `/${token}/`, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' });
      res.end();
      return;
    }
    if (first === undefined || !sameSecret(first, token)) return refuse(res, 403, 'E_TOKEN', 'the URL needs the token `ui` printed');
    const path = rest.join('/');
    if (req.method === 'GET' && path === '') {
      return send(res, 200, 'text/html; charset=utf-8', await loadPage());
    }
    if (req.method === 'GET' && path === 'events') {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-content-type-options': 'nosniff',
      });
      res.write(`retry: 2000\n\n`);
      if (lastStatus) res.write(`event: ${lastStatus.event}\ndata: ${lastStatus.data}\n\n`);
      clients.add(res);
      req.on('close', () => clients.delete(res));
      statusLoop ??= runStatusLoop();
      return;
    }
    if (req.method === 'GET' && path === 'api/impact') {
      const hosts = url.searchParams.getAll('host');
      if (hosts.length === 0) return refuse(res, 400, 'E_USAGE', 'name at least one host: ?host=NAME');
      return sendJson(res, 200, await (await snapshots.answers()).impact(hosts));
    }
    if (req.method === 'GET' && path === 'api/drain') {
      const from = url.searchParams.get('host');
      const to = url.searchParams.get('to');
      if (!from || !to) return refuse(res, 400, 'E_USAGE', 'name the host and the target: ?host=A&to=B');
      return sendJson(res, 200, (await snapshots.answers()).drain(from, to));
    }
    if (req.method === 'GET' && path === 'api/drift') {
      const { drift } = await import('../app/drift.js');
      return sendJson(res, 200, (await drift(fleetOptions, everything, given)).document);
    }
    if (req.method === 'GET' && path === 'api/status') {
      const { status } = await import('../app/status.js');
      return sendJson(res, 200, (await status(fleetOptions, everything, given)).document);
    }
    if (path === 'api/action') {
      const refuseAction = (status: number, code: string, message: string) => {
        // Every refused or run action is logged on stderr: what an audit of the dashboard needs.
        process.stderr.write(`manage-apps ui: action refused (${code}) from origin ${JSON.stringify(req.headers.origin ?? null)}\n`);
        refuse(res, status, code, message);
      };
      if (req.method !== 'POST') return refuseAction(405, 'E_METHOD', 'actions are POST requests');
      if (options.allowActions !== true)
        return refuseAction(
          403,
          'E_READ_ONLY',
          'the dashboard is read-only: start `manage-apps ui --allow-actions` to restart, deploy or roll back from it',
        );
      const origin = req.headers.origin;
      if (origin !== `http://127.0.0.1:${port}` && origin !== `http://localhost:${port}`)
        return refuseAction(403, 'E_ORIGIN', 'actions are accepted only from the dashboard page itself');
      const site = req.headers['sec-fetch-site'];
      if (site !== undefined && site !== 'same-origin')
        return refuseAction(403, 'E_ORIGIN', 'actions are accepted only from the dashboard page itself');
      if (!(req.headers['content-type'] ?? '').startsWith('application/json'))
        return refuseAction(415, 'E_TYPE', 'send the action as application/json');
      const csrfHeader = req.headers['x-csrf-token'];
      if (typeof csrfHeader !== 'string' || !sameSecret(csrfHeader, csrf))
        return refuseAction(403, 'E_CSRF', "the action lacks the page's CSRF token");
      const text = await readBody(req);
      if (text === undefined) return refuseAction(413, 'E_SIZE', 'the request is too large');
      let body: { verb?: unknown; target?: unknown };
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        return refuseAction(400, 'E_USAGE', 'the body is not JSON');
      }
      const verb = body.verb;
      const target = body.target;
      if (typeof verb !== 'string' || !(ACTION_VERBS as readonly string[]).includes(verb))
        return refuseAction(400, 'E_USAGE', `verb must be one of ${ACTION_VERBS.join(', ')}`);
      if (typeof target !== 'string' || !TARGET.test(target))
        return refuseAction(400, 'E_USAGE', 'target must be a project, project:env, project@host or host name');
      if (actionRunning) return refuseAction(409, 'E_BUSY', 'another action is running; wait for it');
      actionRunning = true;
      process.stderr.write(`manage-apps ui: ${verb} ${target} (confirmed on the page)\n`);
      try {
        const result = await runAction(verb as ActionVerb, target);
        return sendJson(res, 200, { verb, target, exit_code: result.exitCode, result: result.document });
      } finally {
        actionRunning = false;
      }
    }
    return refuse(res, 404, 'E_NOT_FOUND', 'no such page');
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const { status, body } = errorDoc(err);
      if (res.headersSent) res.end();
      else sendJson(res, status, body);
    });
  });
  // A kept-alive connection idle for keepAliveTimeout is closed, but not before the connection's
  // data already received is read: on a busy machine the server may not be scheduled for longer
  // than the timeout, and then the timer fires before the next request, already waiting in the
  // socket, is parsed; Node would destroy the socket and the kernel answer that request with a
  // reset (the client reads ECONNRESET, not the page or the 403). A listener on 'timeout' takes
  // the decision from Node: the check comes after this turn of the event loop has read the
  // socket, and only a connection that still carries no request is closed.
  const requestsOn = new WeakMap<object, number>();
  server.on('request', (req: IncomingMessage) => requestsOn.set(req.socket, (requestsOn.get(req.socket) ?? 0) + 1));
  server.on('timeout', (socket: Socket) => {
    const seen = requestsOn.get(socket) ?? 0;
    setImmediate(() => {
      if ((requestsOn.get(socket) ?? 0) === seen && !socket.destroyed) socket.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  // The page is built in the background from start-up: the first page load finds it ready
  // (or waits for this build); a failure here is reported to the request that meets it.
  loadPage().catch(() => undefined);
  return {
    url: `http://127.0.0.1:${port}/${token}/`,
    port,
    token,
    oneTimeLink: () => {
      const now = Date.now();
      for (const [k, expires] of links) if (expires < now) links.delete(k);
      const code = randomBytes(24).toString('base64url');
      links.set(code, now + ONE_TIME_LINK_MS);
      return `http://127.0.0.1:${port}/open/${code}`;
    },
    close: async () => {
      closing = true;
      wake?.();
      for (const c of clients) c.end();
      clients.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await statusLoop;
    },
  };
}
