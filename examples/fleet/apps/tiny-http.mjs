#!/usr/bin/env node
// A tiny HTTP app for the example fleet's local dev services (PID mode).
// Serves / (who am I), /readyz (ready to take traffic) and /livez (alive) on $PORT.
// Optional: READY_AFTER_MS delays readiness (a slow warm-up), NAME overrides the name.
import { createServer } from 'node:http';
import { basename } from 'node:path';

const port = Number(process.env.PORT ?? '0');
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`tiny-http: PORT must be a port number (got ${JSON.stringify(process.env.PORT)})`);
  process.exit(2);
}
const name = process.env.NAME ?? process.env.MANAGE_APPS_SERVICE ?? basename(process.cwd());
const started = Date.now();
const readyAfter = Number(process.env.READY_AFTER_MS ?? '0');

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  const json = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(`${JSON.stringify(body)}\n`);
  };
  if (path === '/livez') return json(200, { status: 'alive' });
  if (path === '/readyz') return Date.now() - started >= readyAfter ? json(200, { status: 'ready' }) : json(503, { status: 'warming up' });
  if (path === '/') return json(200, { service: name, pid: process.pid, uptime_s: Math.round((Date.now() - started) / 1000) });
  json(404, { error: 'not found' });
});

server.listen(port, '127.0.0.1', () => console.log(`${name} listening on http://127.0.0.1:${port} (pid ${process.pid})`));
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    console.log(`${name}: ${signal}, closing`);
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
