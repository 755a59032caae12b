/**
 * What manage-apps last wrote on a host, kept on that host: the sha256 of every file (or managed
 * block) it installs, one small file per path under WRITTEN_DIR. `drift` reads them in its one
 * round trip and tells "edited on the host" (the live text no longer has the fingerprint of what
 * was written) from "the declaration changed" (the live text is what was written, the repository
 * now renders something else).
 *
 * Writing one costs a sha256sum and a rename inside the script that installs the file: no round
 * trip of its own. Only root writes there (the directory is root's, mode 755).
 */
import { createHash } from 'node:crypto';

export const WRITTEN_DIR = '/var/lib/manage-apps/written';

/** sha256 (hex) of a file's bytes, as `ma_written` records it. */
export const fingerprint = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/**
 * `ma_written PATH`: records what was just written to PATH (the whole file's sha256, also for a
 * file with a managed block: the block is only looked at when it differs). Never fails the
 * caller: a missing record only makes drift say "changed" instead of "edited on host". Needs `$SUDO` (or runs as root).
 */
export const WRITTEN_FUNCTION = String.raw`ma_written() {
  ma_ws=$(\${SUDO:-} sha256sum -- "$1" 2>/dev/null | cut -c1-64)
  [ -n "$ma_ws" ] || return 0
  ma_wf="${WRITTEN_DIR}/$(printf '%s' "$1" | tr / %)"
  # umask 022: a caller's umask 077 would make /var/lib/manage-apps itself root-only, and the
  # accounts that keep their state below it (postgres's backups) could no longer reach it.
  { (umask 022 && \${SUDO:-} mkdir -p -m 755 ${WRITTEN_DIR}) && printf '%s\n' "$ma_ws" | \${SUDO:-} tee "$ma_wf.tmp" >/dev/null && \${SUDO:-} mv -f "$ma_wf.tmp" "$ma_wf"; } 2>/dev/null || true
}`.replace(/\\\$/g, '$');

/**
 * Read-only: every record, as "@@written<TAB>name<TAB>sha". The first line by the shell's own
 * `read` (not a `head` per file: every fork costs on a busy host); the directory is root's, and
 * the parser keeps at most 64 characters.
 */
export const READ_WRITTEN = `for ma_f in ${WRITTEN_DIR}/*; do [ -f "$ma_f" ] || continue; ma_wr=''; IFS= read -r ma_wr < "$ma_f" || :; printf '@@written\\t%s\\t%s\\n' "\${ma_f##*/}" "$ma_wr"; done 2>/dev/null`;

/** The records of READ_WRITTEN's output: path → sha. */
export function parseWritten(records: readonly string[][]): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of records) if (r[0] === 'written' && r[1] && r[2]) out.set(r[1].replace(/%/g, '/'), r[2].slice(0, 64));
  return out;
}
