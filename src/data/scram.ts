/**
 * SCRAM-SHA-256 verifiers as PostgreSQL stores them in pg_authid.rolpassword
 * ("SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>", RFC 5802/7677).
 *
 * Why: provision sends the cluster a verifier, never the password (the cluster host and its
 * logs never see it), and checks an existing role against the env file's password by
 * recomputing the verifier with the stored salt — no login attempt, no plaintext on the host.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

const ITERATIONS = 4096;

function keys(password: string, salt: Buffer, iterations: number): { stored: Buffer; server: Buffer } {
  // The passwords manage-apps generates are ASCII letters and digits: SASLprep leaves them as they are.
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  return { stored: createHash('sha256').update(clientKey).digest(), server: createHmac('sha256', salted).update('Server Key').digest() };
}

export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = ITERATIONS): string {
  const { stored, server } = keys(password, salt, iterations);
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${stored.toString('base64')}:${server.toString('base64')}`;
}

const VERIFIER = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/;

/** Does `password` match the stored verifier? False for anything that is not a SCRAM verifier (md5, none). */
export function verifierMatches(verifier: string, password: string): boolean {
  const m = VERIFIER.exec(verifier);
  if (!m) return false;
  const iterations = Number(m[1]);
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > 1_000_000) return false;
  const { stored, server } = keys(password, Buffer.from(m[2]!, 'base64'), iterations);
  const wantStored = Buffer.from(m[3]!, 'base64');
  const wantServer = Buffer.from(m[4]!, 'base64');
  return (
    wantStored.length === stored.length &&
    wantServer.length === server.length &&
    timingSafeEqual(stored, wantStored) &&
    timingSafeEqual(server, wantServer)
  );
}

/** A new app password: 32 letters and digits (~190 bits), safe in a URL and an env file unquoted. */
export function generatePassword(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  while (out.length < 32) {
    for (const byte of randomBytes(48)) {
      // 62 * 4 = 248: rejecting bytes ≥ 248 keeps every character equally likely.
      if (byte < 248 && out.length < 32) out += alphabet[byte % 62];
    }
  }
  return out;
}
