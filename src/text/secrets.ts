/**
 * What a secret looks like in a manifest: a key that names one, or a value
 * shaped like a credential. Values are never echoed back (see Problem.redact).
 */

/** Keys whose value is a secret (normalised: lower case, no - or _). env_file is a path, not a secret. */
export const SECRET_KEY =
  /^(?!env_?file$).*(pass(word|wd|code|phrase)?|secret|token|api_?key|private_?key|credentials?|access_?key|auth_?key|client_?secret|pwd)$/i;

const KNOWN_FORMATS: RegExp[] = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  /\bgh[pousr]_[A-Za-z0-9]{36,}\b/, // GitHub tokens
  /\bgithub_pat_[A-Za-z0-9_]{40,}\b/,
  /\bglpat-[A-Za-z0-9_-]{20,}\b/, // GitLab
  /\bdop_v1_[a-f0-9]{64}\b/, // DigitalOcean
  /\bAKIA[0-9A-Z]{16}\b/, // AWS access key id
  /\bxox[abprs]-[A-Za-z0-9-]{10,}\b/, // Slack
  /\bsk-(ant-|proj-)?[A-Za-z0-9_-]{20,}\b/, // OpenAI / Anthropic style
  /\bAIza[0-9A-Za-z_-]{35}\b/, // Google API key
  // JWT. It starts a run of its alphabet (not just a word): a match tried at every "-eyJ" of one long run would rescan the run each time.
  /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/,
];

const SCHEME_CHAR = /[a-z0-9+.-]/i;
const LETTER = /[a-z]/i;

/**
 * A URL with user:password@ (scheme://user:password@host). Scanned by hand from each "://":
 * the regex /[a-z][a-z0-9+.-]*:\/\/…/ tries every letter of a long word as a scheme start and
 * takes seconds on a 50,000-character line. Every character is looked at a bounded number of
 * times: the scheme run behind one "://" ends at the ":" of the one before, and the user part
 * ahead of it stops at the next "/".
 */
function hasUrlPassword(value: string): boolean {
  for (let at = value.indexOf('://'); at !== -1; at = value.indexOf('://', at + 3)) {
    let hasLetter = false;
    for (let i = at - 1; i >= 0 && SCHEME_CHAR.test(value[i]!); i--) {
      if (LETTER.test(value[i]!)) {
        hasLetter = true;
        break;
      }
    }
    if (!hasLetter) continue;
    // user: [^\s:/@]+, then ":", then password: [^\s@/]+, then "@".
    let i = at + 3;
    const userStart = i;
    while (i < value.length && !/[\s:/@]/.test(value[i]!)) i++;
    if (i === userStart || value[i] !== ':') continue;
    const passwordStart = ++i;
    while (i < value.length && !/[\s@/]/.test(value[i]!)) i++;
    if (i > passwordStart && value[i] === '@') return true;
  }
  return false;
}

/** Shannon entropy in bits per character. */
function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

export function looksLikeSecret(value: string): boolean {
  // Linear in the value's length: a megabyte line is checked in milliseconds (bench/secrets.mjs).
  if (KNOWN_FORMATS.some((re) => re.test(value)) || hasUrlPassword(value)) return true;
  // A long unbroken run of key-alphabet characters with high entropy: a random key, not a word or a path.
  for (const token of value.split(/[\s"'=,;]+/)) {
    // A hex key or digest; a run like "aaaa…" or "abab…" is filler, not a key.
    if (token.length >= 48 && /^[a-f0-9]+$/i.test(token) && entropy(token) >= 3) return true;
    if (
      token.length >= 32 &&
      /^[A-Za-z0-9+/_-]+={0,2}$/.test(token) &&
      !token.includes('/') &&
      /[0-9]/.test(token) &&
      /[A-Za-z]/.test(token) &&
      entropy(token) >= 4
    )
      return true;
  }
  return false;
}

/** What a redacted value is shown as. */
export const REDACTED = '[redacted]';

/**
 * Text with every occurrence of each value (and of its base64 form, the way values travel to
 * hosts) replaced by [redacted]: for any message that could echo a secret the operator's store
 * gave (a command's stderr, a host's answer). Longest first, so a value containing another is
 * masked whole. Values shorter than 3 characters are not searched for (they would mask words).
 */
export function redactValues(text: string, values: readonly string[]): string {
  const needles = [...new Set(values.flatMap((v) => [v, Buffer.from(v).toString('base64')]))]
    .filter((v) => v.length >= 3)
    .sort((a, b) => b.length - a.length);
  let out = text;
  for (const n of needles) if (out.includes(n)) out = out.split(n).join(REDACTED);
  return out;
}
