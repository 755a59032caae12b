/** Values written into line-oriented files and shown in messages. */
/**
 * A value that is safe as one token in a line-oriented config (ssh_config,
 * wg-quick, Caddyfile, systemd): printable ASCII, no whitespace, no quotes,
 * no backslash, no comment sign, no braces. Anything else could end the line,
 * split the token or open a block, i.e. inject a directive.
 */
export const PLAIN_TOKEN = /^[!$%&()*+,\-./0-9:;<=>?@A-Z[\]^_`a-z|~]+$/;

export function isPlainToken(value: string): boolean {
  return PLAIN_TOKEN.test(value);
}

/** For messages: a value shown with its invisible characters visible. */
export function shown(value: string): string {
  return JSON.stringify(value);
}
