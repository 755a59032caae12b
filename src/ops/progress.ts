/**
 * Progress while ops commands run: a live per-host task list on a terminal (listr2), plain
 * lines when stderr is not a terminal, nothing at all with --json (only the final document).
 * Progress always goes to stderr; stdout holds the result.
 */
import { forTerminal, inert } from '../text/control.js';
import type { ListrTaskWrapper } from 'listr2';

export interface TaskHandle {
  /** A passing note ("waiting for /readyz"). */
  update(message: string): void;
  ok(message?: string): void;
  fail(message: string): void;
  skip(message: string): void;
}

export interface PlannedTask {
  key: string;
  host: string;
  title: string;
}

export interface Progress {
  /** Declares every task up front (grouped by host on a terminal). */
  plan(tasks: readonly PlannedTask[]): void;
  task(key: string): TaskHandle;
  /** A line outside any task (a note about a broken stale lock, …). */
  note(message: string): void;
  close(): Promise<void>;
}

const NOOP: TaskHandle = { update() {}, ok() {}, fail() {}, skip() {} };

export class SilentProgress implements Progress {
  plan(): void {}
  task(): TaskHandle {
    return NOOP;
  }
  note(): void {}
  async close(): Promise<void> {}
}

export class LineProgress implements Progress {
  private titles = new Map<string, PlannedTask>();
  constructor(private readonly out: NodeJS.WritableStream = process.stderr) {}
  plan(tasks: readonly PlannedTask[]): void {
    for (const t of tasks) this.titles.set(t.key, t);
  }
  private line(key: string, message: string): void {
    const t = this.titles.get(key);
    this.out.write(`${inert(`${t ? `[${t.host}] ${t.title}` : key}: ${message}`)}\n`);
  }
  task(key: string): TaskHandle {
    return {
      update: (m) => this.line(key, m),
      ok: (m) => this.line(key, m ?? 'ok'),
      fail: (m) => this.line(key, `FAILED: ${m}`),
      skip: (m) => this.line(key, `skipped: ${m}`),
    };
  }
  note(message: string): void {
    this.out.write(`${inert(message)}\n`);
  }
  async close(): Promise<void> {}
}

interface Deferred {
  resolve: (result: { kind: 'ok' | 'skip'; message?: string }) => void;
  reject: (error: Error) => void;
  promise: Promise<{ kind: 'ok' | 'skip'; message?: string }>;
  wrapper?: ListrTaskWrapper<unknown, never, never>;
  pending: string[];
  title: string;
}

function deferred(title: string): Deferred {
  let resolve!: Deferred['resolve'];
  let reject!: Deferred['reject'];
  const promise = new Promise<{ kind: 'ok' | 'skip'; message?: string }>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { resolve, reject, promise, pending: [], title };
}

export class TerminalProgress implements Progress {
  private readonly tasks = new Map<string, Deferred>();
  private running: Promise<unknown> | undefined;
  private notes: string[] = [];

  plan(planned: readonly PlannedTask[]): void {
    const byHost = new Map<string, PlannedTask[]>();
    for (const t of planned) {
      this.tasks.set(t.key, deferred(t.title));
      byHost.set(t.host, [...(byHost.get(t.host) ?? []), t]);
    }
    // listr2 is loaded only here, for a terminal: a command whose progress goes to a pipe or a
    // log (or nowhere, with --json) never reads it. Until it runs, updates wait in `pending`.
    this.running = import('listr2')
      .then(({ Listr, ProcessOutput }) =>
        new Listr(
          [...byHost].map(([host, items]) => ({
            title: host,
            task: (_ctx: unknown, hostTask: ListrTaskWrapper<unknown, never, never>) =>
              hostTask.newListr(
                items.map((item) => ({
                  title: item.title,
                  task: async (_c: unknown, task: ListrTaskWrapper<unknown, never, never>) => {
                    const d = this.tasks.get(item.key)!;
                    d.wrapper = task;
                    for (const m of d.pending) task.output = m;
                    const result = await d.promise;
                    if (result.kind === 'skip') task.skip(`${item.title}: ${result.message ?? 'skipped'}`);
                    else if (result.message) task.title = `${item.title}: ${result.message}`;
                  },
                })),
                { concurrent: true, exitOnError: false },
              ),
          })),
          {
            concurrent: true,
            exitOnError: false,
            renderer: 'default',
            rendererOptions: { collapseSubtasks: false, processOutput: new ProcessOutput(process.stderr, process.stderr) } as never,
          },
        ).run(),
      )
      .catch(() => undefined);
  }

  task(key: string): TaskHandle {
    const d = this.tasks.get(key);
    if (!d) return NOOP;
    return {
      // Messages carry hosts' text (errors, states): inert on the terminal (src/text/control.ts).
      update: (m) => {
        if (d.wrapper) d.wrapper.output = inert(m);
        else d.pending.push(inert(m));
      },
      ok: (m) => d.resolve({ kind: 'ok', ...(m === undefined ? {} : { message: inert(m) }) }),
      fail: (m) => d.reject(new Error(`${d.title}: ${inert(m)}`)),
      skip: (m) => d.resolve({ kind: 'skip', message: inert(m) }),
    };
  }

  note(message: string): void {
    if (this.running) this.notes.push(forTerminal(message, true));
    else process.stderr.write(`${forTerminal(message, true)}\n`);
  }

  async close(): Promise<void> {
    // Any task never reported is closed so the list can finish.
    for (const d of this.tasks.values()) d.resolve({ kind: 'skip', message: 'not run' });
    await this.running;
    for (const n of this.notes) process.stderr.write(`${n}\n`);
  }
}

export function makeProgress(options: { json?: boolean; quiet?: boolean }): Progress {
  if (options.json || options.quiet) return new SilentProgress();
  if (process.stderr.isTTY === true && process.env['TERM'] !== 'dumb' && process.env['CI'] === undefined) return new TerminalProgress();
  return new LineProgress();
}

/**
 * The `@@step` lines of a host script's stdout as they come, each as "host: step": the progress
 * a person (and the fault tests) follow while a script changes a host. Chunks split lines anywhere.
 */
export function stepPrinter(host: string, progress: (line: string) => void): (chunk: string) => void {
  let buffer = '';
  return (chunk) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.startsWith('@@step\t')) progress(`${host}: ${line.slice(7)}`);
    }
  };
}
