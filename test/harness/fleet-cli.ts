// `npm run fleet -- up|status|down|sweep`: real test hosts for people, left running between
// commands. The hosts of `up` outlive this process; their state is under FLEET_STATE_ROOT.
import { FLEET_STATE_ROOT, TestFleet, prerequisites, sweepStale } from './test-fleet.js';

const DEFAULT_FLEET = 'default';
const DEFAULT_COUNT = 3;

const USAGE = `usage: npm run fleet -- <command>
  up [COUNT | NAME...] [--name FLEET]   boot COUNT hosts (default ${DEFAULT_COUNT}) or hosts with these names, and leave them running
  status [--name FLEET]                 show every fleet (or one) and whether its hosts answer ssh
  down [--name FLEET]                   stop the hosts and remove everything the fleet made
  sweep                                 remove leftovers of fleets whose owner died
FLEET defaults to "${DEFAULT_FLEET}". State lives in ${FLEET_STATE_ROOT}/FLEET/.`;

class UsageError extends Error {}

function parse(argv: readonly string[]): { command: string; fleetName: string; operands: string[] } {
  const [command, ...rest] = argv;
  if (!command) throw new UsageError('missing command');
  let fleetName = DEFAULT_FLEET;
  const operands: string[] = [];
  for (let index = 0; index < rest.length; index++) {
    const arg = rest[index]!;
    if (arg === '--name') {
      const value = rest[++index];
      if (!value) throw new UsageError('--name needs a value');
      fleetName = value;
    } else if (arg.startsWith('--name=')) {
      fleetName = arg.slice('--name='.length);
    } else if (arg.startsWith('-')) {
      throw new UsageError(`unknown option ${arg}`);
    } else {
      operands.push(arg);
    }
  }
  return { command, fleetName, operands };
}

async function up(fleetName: string, operands: readonly string[]): Promise<void> {
  const check = prerequisites();
  if (!check.ok) throw new Error(`real test hosts unavailable: ${check.reason}`);
  const count = operands.length === 0 ? DEFAULT_COUNT : operands.length === 1 && /^\d+$/.test(operands[0]!) ? Number(operands[0]) : undefined;
  const spec = count === undefined ? { names: operands } : { count };
  const started = Date.now();
  const fleet = await TestFleet.up(spec, { name: fleetName, persistent: true });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const nameOption = fleetName === DEFAULT_FLEET ? '' : ` --name ${fleetName}`;
  console.log(`test fleet "${fleet.name}" is up: ${fleet.hosts.length} hosts on ${fleet.subnet} (bridge ${fleet.bridge}), ready in ${seconds} s`);
  for (const host of fleet.hosts) console.log(`  ${host.alias.padEnd(16)} ${host.address}`);
  console.log('');
  console.log(`log in:      ssh -F ${fleet.sshConfigPath} ${fleet.hosts[0]?.alias ?? '<alias>'}`);
  console.log(`status:      npm run fleet -- status${nameOption}`);
  console.log(`tear down:   npm run fleet -- down${nameOption}`);
}

async function status(fleetName: string | undefined): Promise<void> {
  const fleets = fleetName === undefined ? TestFleet.list() : [TestFleet.attach(fleetName)].flatMap((fleet) => fleet ?? []);
  if (fleets.length === 0) {
    console.log(fleetName === undefined ? `no test fleets in ${FLEET_STATE_ROOT}` : `no test fleet "${fleetName}"`);
    return;
  }
  for (const fleet of fleets) {
    console.log(
      `fleet "${fleet.name}" (${fleet.persistent ? 'left running by npm run fleet' : 'owned by a test process'}), ${fleet.subnet ?? 'no subnet yet'}`,
    );
    console.log(`  ssh -F ${fleet.sshConfigPath} <alias>`);
    const hosts = fleet.status();
    const answers = await Promise.all(
      hosts.map((host) => (host.running ? fleet.ssh(host, 'systemctl is-system-running', { timeoutMs: 15_000 }) : undefined)),
    );
    hosts.forEach((host, index) => {
      const answer = answers[index];
      const system = answer === undefined ? '-' : answer.exitCode === 255 ? 'no ssh' : answer.stdout.trim() || 'no answer';
      const state = host.running ? `running (PID 1 = ${host.pid1})` : 'stopped';
      console.log(
        `  ${host.alias.padEnd(16)} ${host.address.padEnd(13)} ${state.padEnd(24)} network ${host.networkUp ? 'up' : 'CUT'}   systemd: ${system}`,
      );
    });
  }
}

async function down(fleetName: string): Promise<void> {
  const fleet = TestFleet.attach(fleetName);
  if (!fleet) {
    console.log(`no test fleet "${fleetName}": nothing to tear down`);
    return;
  }
  await fleet.down();
  console.log(`test fleet "${fleetName}" is down`);
}

async function main(argv: readonly string[]): Promise<void> {
  if (argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    console.log(USAGE);
    return;
  }
  const { command, fleetName, operands } = parse(argv);
  const explicitName = argv.some((arg) => arg === '--name' || arg.startsWith('--name='));
  if (command !== 'up' && operands.length > 0) throw new UsageError(`${command} takes no operands`);
  switch (command) {
    case 'up':
      return up(fleetName, operands);
    case 'status':
      return status(explicitName ? fleetName : undefined);
    case 'down':
      return down(fleetName);
    case 'sweep': {
      const swept = sweepStale();
      console.log(swept.length === 0 ? 'no stale fleets' : `removed stale fleets: ${swept.join(', ')}`);
      return;
    }
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError) {
    console.error(`${error.message}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
