// `deploy --dry-run` of a service on a Mac under launchd: the plan names the plist shipped with
// the release, the one-shot LaunchDaemon of the dead-man switch, the BSD rename and launchctl;
// nothing of systemd. Nothing is sent to the Mac (there is none: docs/launchd.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inventory, makeTree, removeTree } from '../helpers/tree.js';
import { json, runCli } from './helpers.js';

const manifest = (extra: string) =>
  `apiVersion: infra/v2\nproject: mail-sync\nprovider: mac\nservice:\n  host: mini\n  user: quinn\n  launchd: {}\n  artifact: dist\n  port: 4444\n  command: ./bin/mail-sync\n${extra}`;

test('deploy --dry-run of a launchd service: its plist, the one-shot revert job, launchctl; a job waits for its run', async () => {
  for (const [extra, job] of [
    ['', false],
    ['  kind: worker\n  schedule:\n    calendar: hourly\n', true],
  ] as const) {
    const root = await makeTree({
      'mesh-hosts.json': inventory(),
      'mail-sync/.infra.yaml': job ? manifest(extra).replace('  port: 4444\n', '') : manifest(extra),
      'mail-sync/dist/bin/mail-sync': '#!/bin/sh\n',
    });
    try {
      const run = await runCli(['deploy', 'mail-sync', '--dry-run', '--json', '--root', root]);
      const doc = json<{ plan: { strategy: string; steps: string[]; plist_file?: string; unit_file?: string; release: string; skipped?: string }[] }>(
        run,
      );
      assert.equal(run.status, 0, run.stdout + run.stderr);
      const [entry] = doc.plan;
      assert.equal(entry?.skipped, undefined);
      assert.equal(entry?.strategy, 'release');
      assert.equal(entry?.unit_file, undefined);
      assert.match(entry?.plist_file ?? '', /<key>Label<\/key>\n\t<string>manage-apps.mail-sync<\/string>/);
      const steps = entry!.steps.join('\n');
      assert.match(steps, new RegExp(`its property list as \\.units/${entry!.release}\\.plist`));
      assert.match(
        steps,
        /a one-shot LaunchDaemon \/Library\/LaunchDaemons\/manage-apps\.revert\.mail-sync\.plist \(StartInterval \d+, run as root\)/,
      );
      assert.match(steps, /install \/Library\/LaunchDaemons\/manage-apps\.mail-sync\.plist from the release \(root:wheel 0644\) when it differs/);
      assert.match(steps, /\(ln -sfn \+ mv -h\)/);
      assert.doesNotMatch(steps, /systemd|systemctl|mv -T/);
      if (job) {
        assert.match(steps, /wait for a run of system\/manage-apps\.mail-sync in progress to end \(with --force: launchctl kill SIGTERM\)/);
        assert.match(steps, /no run is started/);
      } else assert.match(steps, /launchctl kickstart -k system\/manage-apps\.mail-sync/);
    } finally {
      await removeTree(root);
    }
  }
});
