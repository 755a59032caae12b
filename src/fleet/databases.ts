/**
 * Declared databases that two projects share: one definition for `validate` (rule own_db) and
 * `db provision`, which refuses every party of such a conflict rather than guess which one is
 * the rightful owner (a project that names another's database or user must never get it).
 */
import type { ProjectDatabase } from './model.js';

export interface DatabaseConflict {
  field: 'name' | 'user';
  cluster: string;
  value: string;
  /** Every declaration of it, in manifest order; the first is the one validate calls the owner. */
  declarations: ProjectDatabase[];
}

export function databaseConflicts(databases: readonly ProjectDatabase[]): DatabaseConflict[] {
  const out: DatabaseConflict[] = [];
  for (const field of ['name', 'user'] as const) {
    const groups = new Map<string, ProjectDatabase[]>();
    for (const db of databases) {
      const key = `${db.cluster}\u0000${db[field]}`;
      groups.set(key, [...(groups.get(key) ?? []), db]);
    }
    for (const declarations of groups.values()) {
      if (new Set(declarations.map((d) => d.project)).size > 1)
        out.push({ field, cluster: declarations[0]!.cluster, value: declarations[0]![field], declarations });
    }
  }
  return out;
}
