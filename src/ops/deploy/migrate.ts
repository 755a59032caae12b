/**
 * `service.migrate`: the new release's migration command, run on the service's host in the
 * shipped (not yet live) release directory, as the service's user, with its env_file loaded
 * (DATABASE_URL and PG* from `db provision`), before `current` switches. Its exit status
 * decides whether the deploy goes on; its last lines are reported either way.
 */
import type { Service } from '../../fleet/model.js';
import { PRELUDE, records } from '../../runtime/shell.js';
import { failureReason, type Transport } from '../../transport/types.js';
import { quote, validName } from '../../transport/quote.js';

export interface MigrateInput {
  /** The shipped release's directory (releases/<id>, not yet `current`). */
  directory: string;
  command: string;
  user?: string;
  envFile?: string;
  env: Record<string, string>;
}

export function migrateScript(m: MigrateInput): string {
  const exports = Object.entries(m.env)
    .map(([k, v]) => `${k}=${quote(v)}; export ${k}`)
    .join('; ');
  const inner = `set -a; if [ -n "$1" ] && [ -r "$1" ]; then . "$1"; fi; set +a; ${exports}; eval "$2"`;
  const asUser = m.user !== undefined && m.user !== 'root' ? `$SUDO runuser -u ${quote(validName('user', m.user))} -- ` : '$SUDO ';
  // An env file that exists but the service's user cannot read would leave the migration without
  // its database settings (PGUSER unset, libpq falling back to the login name): refused, never silent.
  const unreadable =
    m.envFile === undefined
      ? ''
      : `if $SUDO test -e ${quote(m.envFile)} && ! ${asUser}test -r ${quote(m.envFile)}; then
  printf '@@migrate\\t126\\n@@line\\t%s\\n' ${quote(`the env file ${m.envFile} is not readable by ${m.user ?? 'root'}: the migration would run without its database settings (db provision gives the file to service.user)`)}
  return
fi
`;
  return `${PRELUDE}main() {
cd -- ${quote(validName('path', m.directory))} || { printf '@@migrate\\t127\\n@@line\\trelease directory missing\\n'; return; }
${unreadable}out=$(mktemp) || return
${asUser}sh -c ${quote(inner)} sh ${quote(m.envFile ?? '')} ${quote(m.command)} </dev/null >"$out" 2>&1
rc=$?
printf '@@migrate\\t%s\\n' "$rc"
tail -n 20 "$out" | while IFS= read -r line; do printf '@@line\\t%s\\n' "$line"; done
rm -f "$out"
}
main
`;
}

export function parseMigrate(output: string): { exitCode: number | null; lastLines: string[] } {
  const recs = records(output);
  const code = recs.find((r) => r[0] === 'migrate')?.[1];
  return { exitCode: code === undefined ? null : Number(code), lastLines: recs.filter((r) => r[0] === 'line').map((r) => r.slice(1).join('\t')) };
}

/** Runs service.migrate for a shipped release (deploy calls it between shipping and the switch). */
export async function runMigration(
  transport: Transport,
  service: Service,
  release: string,
  quickMs: number,
): Promise<{ exitCode: number | null; lastLines: string[] }> {
  const r = await transport.script(
    migrateScript({
      directory: `${service.directory}/releases/${release}`,
      command: service.migrate!,
      ...(service.runAs === undefined ? {} : { user: service.runAs }),
      ...(service.envFile === undefined ? {} : { envFile: service.envFile }),
      env: { MANAGE_APPS_SERVICE: service.id, MANAGE_APPS_RELEASE: release, ...(service.port === undefined ? {} : { PORT: String(service.port) }) },
    }),
    { timeoutMs: 10 * 60_000 + quickMs },
  );
  const parsed = parseMigrate(r.stdout);
  if (parsed.exitCode === null) parsed.lastLines.push(failureReason(r));
  return parsed;
}

/** Removes a shipped release that never went live (its migration failed): nothing points at it. */
export function discardReleaseScript(directory: string, release: string): string {
  const d = quote(validName('path', directory));
  const r = quote(validName('release', release));
  return `${PRELUDE}[ "$(readlink ${d}/current 2>/dev/null)" = releases/${r} ] || $SUDO rm -rf -- ${d}/releases/${r} ${d}/.units/${r}.service\n`;
}
