/**
 * "Did you mean …?": the candidate nearest to a typo, if it is near enough to be
 * a likely intent. One edit distance for every hint the tool gives.
 */

/** How far a candidate may be from the word (default: a third of the word's length, at least 1). */
export type SuggestionBound = (word: string, candidate: string) => number;

const defaultBound: SuggestionBound = (word) => Math.max(1, Math.floor(word.length / 3));

export function closest(word: string, options: Iterable<string>, bound: SuggestionBound = defaultBound): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const option of options) {
    const d = editDistance(word.toLowerCase(), option.toLowerCase());
    if (d < bestDistance && d <= bound(word, option)) {
      bestDistance = d;
      best = option;
    }
  }
  return best;
}

/** Edit distance counting a swap of neighbours as one edit (typos like "prot" for "port"). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
