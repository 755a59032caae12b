/** The accounts tunnels log in and run as, made on the hosts by manage-apps only (shell functions for host scripts). */
import { ACCOUNT_COMMENT, ACCOUNT_RECORD, FAR_USER, FAR_USER_PREFIX, INITIATOR_USER } from './resolve.js';

/**
 * Tunnel accounts as manage-apps makes them: `ma_account NAME` makes (or adopts, when it is
 * exactly what manage-apps makes) the account and its root-owned home, `ma_ours NAME` checks.
 * Needs `ma_changed ID TEXT`. Shared by `tunnels up` and `hosts prepare`.
 */
export const TUNNEL_ACCOUNT_FUNCTIONS = String.raw`# ma_account NAME (ma_why says why not): NAME is an account manage-apps made, with the root-owned
# home /var/lib/NAME it made; made now if it does not exist. Made by manage-apps means: recorded
# in ${ACCOUNT_RECORD} (root's), or exactly as it makes them — its comment (an earlier version
# left none on the default names), no shell, its /var/lib home root's or not there — and then recorded.
# Anything else (someone's login, a package's user, a home of its own) is refused, and a home
# manage-apps did not make is never taken over or chowned.
ma_account() {
  ma_why="cannot keep ${ACCOUNT_RECORD} on $(hostname)"
  mkdir -p /etc/manage-apps && [ ! -L ${ACCOUNT_RECORD} ] || return 1
  h="/var/lib/$1"
  if ! id -u "$1" >/dev/null 2>&1; then
    if [ -e "$h" ] || [ -L "$h" ]; then ma_why="$h exists on $(hostname) but no account $1 does: refused (manage-apps never takes over a directory it did not make)"; return 1; fi
    # Recorded first: a run killed before useradd leaves a name, never an account it would disown.
    grep -qxF "$1" ${ACCOUNT_RECORD} 2>/dev/null || printf '%s\n' "$1" >> ${ACCOUNT_RECORD} || return 1
    useradd --system --user-group --no-create-home --home-dir "$h" --shell /usr/sbin/nologin --comment '${ACCOUNT_COMMENT}' -p '*' "$1" || { ma_why="useradd $1 failed on $(hostname)"; return 1; }
    ma_changed - "account $1 created on $(hostname)"
  elif ! grep -qxF "$1" ${ACCOUNT_RECORD} 2>/dev/null; then
    case "$(getent passwd "$1" | cut -d: -f5-7)" in
      "${ACCOUNT_COMMENT}:$h:/usr/sbin/nologin") shape=1 ;;
      ":$h:/usr/sbin/nologin") case "$1" in ${INITIATOR_USER}|${FAR_USER.forward}|${FAR_USER.reverse}) shape=1 ;; *) shape=0 ;; esac ;;
      *) shape=0 ;;
    esac
    if [ "$shape" = 1 ] && { { [ ! -e "$h" ] && [ ! -L "$h" ]; } || { [ -d "$h" ] && [ ! -L "$h" ] && [ "$(stat -c %u "$h")" = 0 ]; }; }; then
      printf '%s\n' "$1" >> ${ACCOUNT_RECORD} || return 1
      ma_changed - "account $1 (made by manage-apps, not in its record) recorded on $(hostname)"
    else
      ma_why="the account $1 exists on $(hostname) and manage-apps did not make it: refused (a tunnel logs in only as an account of its own; name another ssh_user starting with ${FAR_USER_PREFIX})"
      return 1
    fi
  fi
  [ "$(getent passwd "$1" | cut -d: -f6)" = "$h" ] || { ma_why="the account $1 on $(hostname) has another home than $h: refused"; return 1; }
  if [ ! -e "$h" ] && [ ! -L "$h" ]; then mkdir -m 755 "$h" || return 1; fi
  if [ -L "$h" ] || [ ! -d "$h" ] || [ "$(stat -c %u "$h")" != 0 ]; then ma_why="$h on $(hostname) is not the root-owned directory manage-apps made: refused (never chowned)"; return 1; fi
}
# ma_ours NAME: NAME exists and is recorded as made by manage-apps (a check, nothing made).
ma_ours() { id -u "$1" >/dev/null 2>&1 && grep -qxF "$1" ${ACCOUNT_RECORD} 2>/dev/null; }
`;
