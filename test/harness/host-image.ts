// What makes one test host: the files written into its overlay's upper layer before boot,
// and the two shell scripts that boot it. The machine's own root is the (read-only) lower
// layer, so nothing here ever writes outside the host's upper directory.
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { runSync } from './system.js';

export const SYSTEMD_BINARY = '/lib/systemd/systemd';
export const SSHD_BINARY = '/usr/sbin/sshd';
export const SSH_UNIT_FILE = '/lib/systemd/system/ssh.service';

/** Units masked in every host (symlinked to /dev/null), grouped by why. */
const MASKED_UNITS: readonly string[] = [
  // Hardware and network management: the harness owns eth0, and there are no devices to manage.
  'systemd-udevd.service',
  'systemd-udevd-control.socket',
  'systemd-udevd-kernel.socket',
  'systemd-udev-trigger.service',
  'systemd-udev-settle.service',
  'systemd-networkd.service',
  'systemd-networkd.socket',
  'systemd-networkd-wait-online.service',
  // No consoles to log in on.
  'console-getty.service',
  'getty@tty1.service',
  'getty@.service',
  'serial-getty@.service',
  'container-getty@.service',
  // No clock to set, no jobs that wake up on their own in the middle of a test.
  'systemd-timesyncd.service',
  'cron.service',
  'apt-daily.timer',
  'apt-daily-upgrade.timer',
  'man-db.timer',
  'dpkg-db-backup.timer',
  'e2scrub_all.timer',
  'e2scrub_reap.service',
  'fstrim.timer',
  // Kernel-wide filesystems and settings a test host must not reach into.
  'sys-kernel-debug.mount',
  'sys-kernel-tracing.mount',
  'sys-kernel-config.mount',
  'sys-fs-fuse-connections.mount',
  'proc-sys-fs-binfmt_misc.automount',
  'proc-sys-fs-binfmt_misc.mount',
  'systemd-binfmt.service',
  // Databases the machine image would auto-start.
  'postgresql.service',
  'postgresql@.service',
  // Container engines and a registry the machine image would auto-start (test/harness/docker.ts
  // unmasks them on the hosts that ask for Docker, with their own storage).
  'docker.service',
  'docker.socket',
  'containerd.service',
  'docker-registry.service',
];

/** postgresql@VERSION-CLUSTER.service for each cluster the image has under /etc/postgresql. */
function postgresqlClusterUnits(): string[] {
  const units: string[] = [];
  const listDirs = (dir: string): string[] => {
    try {
      return readdirSync(dir, { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name);
    } catch {
      return [];
    }
  };
  for (const version of listDirs('/etc/postgresql')) {
    for (const cluster of listDirs(join('/etc/postgresql', version))) units.push(`postgresql@${version}-${cluster}.service`);
  }
  return units;
}

export function maskedUnits(): string[] {
  return [...MASKED_UNITS, ...postgresqlClusterUnits()];
}

/** relPath as a clean relative path inside the host ("etc/ssh", not "/etc/ssh/" or "../x"). */
function relativeInside(relPath: string): string {
  const rel = posix.normalize(relPath).replace(/^\/+/, '').replace(/\/+$/, '');
  if (rel === '' || rel === '.' || rel === '..' || rel.startsWith('../')) throw new Error(`not a path inside the host: ${relPath}`);
  return rel;
}

/**
 * Creates a directory (and its parents) in the upper layer with the owner and mode the machine's
 * own directory has: overlayfs shows the upper directory's attributes, so a plain mkdir would
 * e.g. turn /root from 0700 into 0755 inside the host. Returns the directory's path.
 */
export function ensureUpperDir(upperDir: string, relDir: string, modeIfNew = 0o755): string {
  let rel = '';
  for (const part of relativeInside(relDir).split('/')) {
    rel = rel === '' ? part : `${rel}/${part}`;
    const path = join(upperDir, rel);
    if (existsSync(path)) continue;
    mkdirSync(path);
    const lower = lstatOrUndefined(join('/', rel));
    if (lower?.isDirectory()) {
      chmodSync(path, lower.mode & 0o7777);
      chownSync(path, lower.uid, lower.gid);
    } else {
      chmodSync(path, modeIfNew);
    }
  }
  return join(upperDir, rel);
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** Writes a file into the host's upper layer (parents made as ensureUpperDir does). Returns its path. */
export function writeUpperFile(upperDir: string, relPath: string, content: string, mode = 0o644): string {
  const rel = relativeInside(relPath);
  const parent = posix.dirname(rel);
  if (parent !== '.') ensureUpperDir(upperDir, parent);
  const target = join(upperDir, rel);
  writeFileSync(target, content, { mode });
  chmodSync(target, mode);
  return target;
}

export interface HostIdentity {
  name: string;
  /** /etc/hosts content: the fleet's hosts by name */
  hostsFile: string;
  /** the fleet's public key, allowed to log in as root */
  authorizedKey: string;
}

/**
 * Writes identity, masks, sshd settings and a fresh host key into the upper layer.
 * Returns the host's public key ("ssh-ed25519 AAAA… comment").
 */
export function writeHostIdentity(upperDir: string, identity: HostIdentity): string {
  writeUpperFile(upperDir, 'etc/hostname', `${identity.name}\n`);
  // A fresh machine-id per host: systemd derives MAC addresses and more from it, and
  // identical ids make the bridge deliver packets to the wrong host.
  const machineId = readFileSync('/proc/sys/kernel/random/uuid', 'utf8').trim().replace(/-/g, '');
  writeUpperFile(upperDir, 'etc/machine-id', `${machineId}\n`, 0o444);
  writeUpperFile(upperDir, 'etc/hosts', identity.hostsFile);

  const unitDir = ensureUpperDir(upperDir, 'etc/systemd/system');
  for (const unit of maskedUnits()) symlinkSync('/dev/null', join(unitDir, unit));
  const wantsDir = ensureUpperDir(upperDir, 'etc/systemd/system/multi-user.target.wants');
  if (!existsSync(join(wantsDir, 'ssh.service'))) symlinkSync(SSH_UNIT_FILE, join(wantsDir, 'ssh.service'));

  // Only this host's own key: the machine's keys in the lower layer are shared by every host.
  writeUpperFile(
    upperDir,
    'etc/ssh/sshd_config.d/00-manage-apps-test-host.conf',
    [
      '# Written by the manage-apps test harness.',
      'HostKey /etc/ssh/ssh_host_ed25519_key',
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      '',
    ].join('\n'),
  );
  const hostKey = join(ensureUpperDir(upperDir, 'etc/ssh'), 'ssh_host_ed25519_key');
  runSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `root@${identity.name}`, '-f', hostKey]);

  ensureUpperDir(upperDir, 'root/.ssh', 0o700);
  writeUpperFile(upperDir, 'root/.ssh/authorized_keys', `${identity.authorizedKey.trim()}\n`, 0o600);
  // root's dotfiles as on a freshly installed host, not this machine's: Debian's bash reads
  // ~/.bashrc for every ssh command, and a developer's (pyenv, cargo) costs ~90 ms per session.
  for (const [name, text] of Object.entries(freshRootDotfiles())) writeUpperFile(upperDir, `root/${name}`, text, 0o644);
  return readFileSync(`${hostKey}.pub`, 'utf8').trim();
}

/** Debian's dotfiles for root (base-files), else /etc/skel's, else empty ones. */
function freshRootDotfiles(): Record<'.bashrc' | '.profile', string> {
  const pick = (...paths: string[]) => {
    for (const path of paths) if (existsSync(path)) return readFileSync(path, 'utf8');
    return '# Written by the manage-apps test harness.\n';
  };
  return {
    '.bashrc': pick('/usr/share/base-files/dot.bashrc', '/etc/skel/.bashrc'),
    '.profile': pick('/usr/share/base-files/dot.profile', '/etc/skel/.profile'),
  };
}

/**
 * Runs inside the host's new namespaces as its PID 1, then execs systemd. $1 is the merged
 * overlay. Every mount here is private to the host's mount namespace. The machine's /dev,
 * /proc/sys and /sys stay out of reach: a private /dev, /proc/sys read-only (its net/ part is
 * the host's own network namespace), a read-only sysfs and the host's own cgroup subtree.
 * pivot_root then drops every reference to the machine's mount tree (other hosts' overlays,
 * /run/netns) so tearing those down elsewhere really frees them.
 */
export const HOST_INIT_SCRIPT = String.raw`set -eu
root=$1
mount -t tmpfs -o mode=755,nosuid,size=4m tmpfs "$root/dev"
for node in null zero full random urandom tty; do
  touch "$root/dev/$node"
  mount --bind "/dev/$node" "$root/dev/$node"
done
# The tun device, where the machine has one: a userspace WireGuard (wireguard-go) makes its
# interface in the host's own network namespace with it.
if [ -c /dev/net/tun ]; then
  mkdir "$root/dev/net"
  touch "$root/dev/net/tun"
  mount --bind /dev/net/tun "$root/dev/net/tun"
fi
mkdir "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
touch "$root/dev/console"
# The host's console is its console.log (this script's stdout): systemd's own warnings and
# errors land there, so a host that stops while booting says why.
mount --bind /proc/self/fd/1 "$root/dev/console"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount --bind "$root/proc/sys" "$root/proc/sys"
mount --bind "$root/proc/sys/net" "$root/proc/sys/net"
mount -o remount,bind,ro "$root/proc/sys"
if [ -e "$root/proc/sysrq-trigger" ]; then
  mount --bind "$root/proc/sysrq-trigger" "$root/proc/sysrq-trigger"
  mount -o remount,bind,ro "$root/proc/sysrq-trigger"
fi
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$root/sys/fs/cgroup"
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$root/run"
cd "$root"
pivot_root . tmp
umount -l /tmp
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
# Shared propagation inside the host, as on a machine: systemd marks / shared only when the
# kernel starts it, never in a container, and it builds a unit's credentials in a child mount
# namespace and moves them into place, which a private / never lets the unit see (an empty
# $CREDENTIALS_DIRECTORY). The peer groups are the host's own: unshare made every mount private
# to the machine first.
mount --make-rshared /
export container=other
exec ${SYSTEMD_BINARY} --system --log-target=console --log-level=warning --show-status=no
`;

/**
 * Started detached by the harness: $1 host cgroup, $2 network namespace, $3 merged overlay,
 * $4 HOST_INIT_SCRIPT. It moves itself into the host's cgroup first, so the new cgroup
 * namespace is rooted there and the host's systemd manages only its own subtree. unshare
 * stays as the parent that reaps the host's PID 1; --kill-child ends the host if it is killed.
 */
export const HOST_WRAPPER_SCRIPT = String.raw`set -eu
echo $$ > "$1/cgroup.procs"
exec ip netns exec "$2" unshare --pid --fork --kill-child --mount --uts --ipc --cgroup --propagation private sh -c "$4" manage-apps-test-host-init "$3"
`;
