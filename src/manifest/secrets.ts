/**
 * What a secret looks like in a manifest: a key that names one, or a value
 * shaped like a credential. Values are never echoed back (see Problem.redact).
 */

/** Keys whose value is a secret (normalised: lower case, no - or _). env_file is a path, not a secret. */
export const SECRET_KEY = /^(?!env_?file$).*(pass(word|wd|code|phrase)?|secret|token|api_?key|private_?key|credentials?|access_?key|auth_?key|client_?secret|pwd)$/i;

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
  /\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/, // JWT
  /[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:[^\s@/]+@/i, // URL with user:password@
];

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
  if (KNOWN_FORMATS.some((re) => re.test(value))) return true;
  // A long unbroken run of key-alphabet characters with high entropy: a random key, not a word or a path.
  for (const token of value.split(/[\s"'=,;]+/)) {
    // A hex key or digest; a run like "aaaa…" or "abab…" is filler, not a key.
    if (token.length >= 48 && /^[a-f0-9]+$/i.test(token) && entropy(token) >= 3) return true;
    if (token.length >= 32 && /^[A-Za-z0-9+/_-]+={0,2}$/.test(token) && !token.includes('/') && /[0-9]/.test(token) && /[A-Za-z]/.test(token) && entropy(token) >= 4) return true;
  }
  return false;
}
