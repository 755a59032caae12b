/**
 * `ui` keeps one loaded fleet and its page while the files it was built from are unchanged, so
 * a page load or a what-if click does not re-read, re-check and re-lay out the whole fleet
 * (at 200 hosts / 5,000 services: about 1.3 s to load and 1 s for the page's analyses and
 * layout, each time). "Unchanged" is decided by the files themselves, each by its size, inode
 * and modification and change times: the manifests, the inventory, the compose files the
 * services name, the release ledger (with its pending promotions and allowed_signers), and
 * every directory the discovery crawled (a manifest added, removed or
 * renamed changes its directory's modification time; a new directory changes its parent's),
 * which costs a stat each instead of a new crawl. A rebuild is done once however many requests
 * wait for it. The layout is kept by the graph it was made
 * from, so an edit that changes no box or edge (a health timeout, a backup policy) does not
 * lay the picture out again.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { resolveRoot, type FleetOptions } from '../load/fleet.js';
import { discoverManifests } from '../manifest/discover.js';
import { ledgerPath } from '../promotion/ledger.js';
import { PENDING_FILE } from '../promotion/pending.js';
import { allowedSignersOf } from './ledger.js';
import { FleetAnswers, layOut } from './page.js';
import type { FleetLayout } from '../render/fleet-layout.js';

/** One line per file: what a change to it changes. A missing file is a state too. */
function signature(paths: readonly string[]): string {
  const hash = createHash('sha256');
  // Synchronous: ten thousand stats take tens of milliseconds, a promise each several times that.
  for (const path of paths) {
    const s = statSync(path, { bigint: true, throwIfNoEntry: false });
    hash.update(s ? `${path}\0${s.size}\0${s.ino}\0${s.mtimeNs}\0${s.ctimeNs}\n` : `${path}\0-\n`);
  }
  return hash.digest('hex');
}

interface Snapshot {
  key: string;
  answers: FleetAnswers;
  /** The live page built from these answers (built once, on first ask). */
  page?: Promise<string>;
}

export class FleetSnapshots {
  private kept: Snapshot | undefined;
  private building: Promise<Snapshot> | undefined;
  /** What the kept snapshot was built from: directories crawled, manifests, inventory, compose files. */
  private inputs: string[] = [];
  private layout: { key: string; value: FleetLayout } | undefined;

  constructor(private readonly options: FleetOptions) {}

  /** The fleet as the files are now: the kept one when nothing changed, else loaded again. */
  async snapshot(): Promise<Snapshot> {
    if (this.kept && this.building === undefined && signature(this.inputs) === this.kept.key) return this.kept;
    this.building ??= this.rebuild().finally(() => (this.building = undefined));
    return this.building;
  }

  async answers(): Promise<FleetAnswers> {
    return (await this.snapshot()).answers;
  }

  /** The live page for the fleet as it is now: built once per snapshot. */
  async page(make: (answers: FleetAnswers) => Promise<string>): Promise<string> {
    const snap = await this.snapshot();
    snap.page ??= make(snap.answers).catch((err: unknown) => {
      snap.page = undefined;
      throw err;
    });
    return snap.page;
  }

  private async rebuild(): Promise<Snapshot> {
    const discovery = await discoverManifests(await resolveRoot(this.options.root));
    const crawled = [...discovery.directories, ...discovery.manifests.map((m) => m.path)];
    const before = signature(crawled);
    const answers = await FleetAnswers.load(this.options);
    const { fleet, inventory } = answers.loaded;
    // The inventory and the compose files the services name are known once loaded (an edit to
    // one of them during this load is seen at its next change).
    // The release ledger, its pending promotions and allowed_signers: the Ledger tab shows them (a promotion appends a line).
    const inputs = [
      ...crawled,
      inventory.path,
      ...fleet.services.flatMap((s) => (s.compose ? [s.compose.path] : [])),
      ledgerPath(fleet.root),
      join(fleet.root, PENDING_FILE),
      allowedSignersOf(fleet),
    ];
    // A manifest or directory that changed while the load read it: a key nothing matches, so
    // the next request loads again.
    const key = signature(crawled) === before ? signature(inputs) : '';
    this.inputs = inputs;
    this.kept = { key, answers };
    return this.kept;
  }

  /** The picture's layout for this graph: kept while the graph is the same. */
  readonly layoutFor = async (graph: ReturnType<FleetAnswers['graph']>): Promise<FleetLayout> => {
    const key = createHash('sha256').update(JSON.stringify(graph)).digest('hex');
    if (this.layout?.key === key) return this.layout.value;
    const value = await layOut(graph);
    this.layout = { key, value };
    return value;
  };
}
