/**
 * Moving unpublished local progress onto a new shared model. A volunteer keeps training while its last
 * delta's round closes (rounds.ts); the steps taken meanwhile started from weights the merge has since
 * replaced. What they learnt is the difference from `anchor`, the local weights the swarm already
 * accounts for (the published point, or the shared model itself), and it carries over unchanged:
 *
 *   w ← g' + (w − anchor)
 *
 * so the next delta, g' − w, holds exactly the progress no earlier delta carried.
 */
import type { Params } from '@slimswarm/performer';

/** The weights of `local`'s progress beyond `anchor`, on top of `shared` (new arrays; inputs untouched). */
export function carryProgress(local: Params, anchor: Params, shared: Params): Params {
  const out: Params = {};
  for (const [name, g] of Object.entries(shared)) {
    const w = local[name];
    const a = anchor[name];
    if (!w || !a || w.length !== g.length || a.length !== g.length) {
      throw new RangeError(`carryProgress: tensor ${name} is missing or differs in size`);
    }
    const next = new Float32Array(g.length); // [size of tensor `name`]
    for (let i = 0; i < g.length; i++) next[i] = g[i]! + (w[i]! - a[i]!);
    out[name] = next;
  }
  return out;
}
