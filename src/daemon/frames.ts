/**
 * What the client and the resident process say to each other over the socket: one JSON object
 * per line. Output travels as base64 so that every byte arrives as the command wrote it.
 */
import type { Socket } from 'node:net';

/** Client → process. */
export type Request =
  | {
      type: 'run';
      build: string;
      argv: string[];
      cwd: string;
      env: Record<string, string>;
      stdoutTTY: boolean;
      stderrTTY: boolean;
      columns: number | undefined;
      rows: number | undefined;
    }
  | { type: 'cancel' }
  | { type: 'status' }
  | { type: 'stop' };

/** What `status` answers. */
export interface DaemonInfo {
  pid: number;
  build: string;
  startedAt: string;
  requests: number;
  idleTimeoutS: number;
  busy: boolean;
}

/** Process → client. */
export type Reply =
  | { type: 'accepted' }
  | { type: 'busy' }
  | { type: 'stale' }
  | { type: 'out' | 'err'; data: string }
  | { type: 'exit'; code: number }
  | { type: 'status'; info: DaemonInfo }
  | { type: 'stopping'; pid: number };

export function send(socket: Socket, frame: Request | Reply): void {
  if (!socket.destroyed && socket.writable) socket.write(`${JSON.stringify(frame)}\n`);
}

/** Calls `onFrame` for each line received; a line that is not JSON ends the connection. */
export function readFrames<T>(socket: Socket, onFrame: (frame: T) => void, maxLine = 64 << 20): void {
  let pending = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      let frame: T;
      try {
        frame = JSON.parse(line) as T;
      } catch {
        socket.destroy();
        return;
      }
      onFrame(frame);
    }
    if (pending.length > maxLine) socket.destroy();
  });
}
