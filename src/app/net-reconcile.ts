/**
 * `net reconcile`: the "services" map of mesh-hosts.json regenerated from every
 * manifest. Only that value's text changes; the result is checked to load as a
 * valid inventory before anything is written.
 */
import { readIfExists } from '../files/write.js';
import { dropletServices } from '../fleet/model.js';
import { parseInventory } from '../inventory/load.js';
import { loadFleet, type FleetOptions } from '../load/fleet.js';
import { sortProblems } from '../problems.js';
import { renderServicesMap, spliceServicesMap } from '../render/services-map.js';
import { checkTargets, renderAnswer, splitLoadProblems, writeTargets, type Mode, type RenderAnswer } from './render-files.js';

export async function reconcileServicesMap(settings: FleetOptions & { mode: Mode }): Promise<RenderAnswer> {
  const mode = settings.mode;
  const loaded = await loadFleet(settings);
  const command = 'net reconcile';
  const { blocking, reported, other } = splitLoadProblems(loaded, 'fleet');
  const base = { command, mode, loaded, other, rendered: [], files: [], skipped: [] };
  const source = loaded.inventory.source;
  if (blocking.length > 0 || !source?.doc) return renderAnswer({ ...base, problems: sortProblems([...blocking, ...reported]), blocked: true });

  const path = loaded.inventory.path;
  // The file as it is now on disk is what gets spliced (and what --check compares).
  // Without a byte-order mark, as parsed: positions in the parsed document are offsets into this text.
  const text = (await readIfExists(path))?.replace(/^\uFEFF/, '') ?? source.text;
  const current = text === source.text ? source : parseInventory(path, loaded.inventory.file, text).source;
  if (!current?.doc) return renderAnswer({ ...base, problems: sortProblems(loaded.inventory.problems), blocked: true });
  const content = spliceServicesMap(text, current.doc, renderServicesMap(loaded.fleet));
  const reparsed = parseInventory(path, loaded.inventory.file, content);
  if (!reparsed.valid) throw new Error(`the reconciled inventory does not load: ${reparsed.problems.map((p) => p.message).join('; ')}`);

  const skipped = [
    ...loaded.fleet.services.filter((s) => s.host === undefined).map((s) => ({ name: s.id, reason: 'no host: not in the services map' })),
    ...dropletServices(loaded.fleet)
      .filter((d) => d.host === undefined)
      .map((d) => ({ name: d.id, reason: `droplet ${d.droplet} registers no hosts: not in the services map` })),
  ];
  const report = { ...base, skipped, problems: sortProblems(reported), blocked: false };
  if (mode === 'print') return renderAnswer({ ...report, rendered: [{ path: loaded.inventory.file, content }] });
  const targets = [{ path, content }];
  return renderAnswer({ ...report, files: mode === 'check' ? await checkTargets(targets) : await writeTargets(targets) });
}
