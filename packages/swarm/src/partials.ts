/**
 * Deltas whose gossip parts are still arriving, bounded. There is at most one per (author, round): a
 * second payload for it is an equivocation, refused by the verdict before anything is held, and each is
 * at most the job's largest payload. Every part held was checked against the digest its author signed for
 * it, so what is held is what the author sent — but first parts of deltas that never complete, under as
 * many identities as an attacker cares to make, would otherwise stay until their round advances. So all
 * partials together hold at most `maxBytes`; beyond it the one that advanced least recently is evicted: an
 * honest delta's parts come back to back, a stalled one only ages. An evicted delta is pulled whole over
 * anti-entropy once a neighbour names it. A whole payload (a pull answer) is never held here.
 */
import type { DeltaAnnouncement } from '@slimswarm/protocol';
import { concatBytes } from './wire.js';

export interface PartialDelta {
  author: string;
  /** The header of the first part held (every later part carries the same signed header). */
  header: DeltaAnnouncement;
  parts: (Uint8Array | undefined)[];
  received: number;
  bytes: number;
}

export interface PartAdded {
  /** The whole payload once its last part is in (or at once for a whole payload); else null. */
  payload: Uint8Array | null;
  /** Authors whose partial deltas were evicted to make room. */
  evicted: string[];
}

export class PartialDeltas {
  /** `${author}/${round}` -> parts so far, least recently advanced first. */
  private readonly byKey = new Map<string, PartialDelta>();
  private held = 0;

  constructor(readonly maxBytes: number) {}

  /** Bytes of the parts held. */
  get bytes(): number {
    return this.held;
  }

  get(author: string, round: number): PartialDelta | undefined {
    return this.byKey.get(key(author, round));
  }

  /** Adds one part the verdict accepted; a whole payload replaces parts of the same delta still missing. */
  add(author: string, header: DeltaAnnouncement, part: Uint8Array): PartAdded {
    const k = key(author, header.round);
    const { count, index } = header.part;
    if (count === 1) {
      this.delete(author, header.round);
      return { payload: Uint8Array.from(part), evicted: [] };
    }
    let p = this.byKey.get(k);
    if (!p) p = { author, header, parts: new Array<Uint8Array | undefined>(count), received: 0, bytes: 0 };
    const evicted = this.makeRoom(part.length, k);
    p.parts[index] = Uint8Array.from(part); // a copy: `part` is a view into the gossip frame
    p.received++;
    p.bytes += part.length;
    this.held += part.length;
    this.byKey.delete(k);
    this.byKey.set(k, p); // now the most recently advanced
    if (p.received < count) return { payload: null, evicted };
    this.delete(author, header.round);
    return { payload: concatBytes(p.parts as Uint8Array[], header.payloadBytes), evicted };
  }

  delete(author: string, round: number): void {
    const k = key(author, round);
    const p = this.byKey.get(k);
    if (!p) return;
    this.held -= p.bytes;
    this.byKey.delete(k);
  }

  /** Drops the partial deltas of rounds before `round` (they can no longer be merged). */
  dropBefore(round: number): void {
    for (const p of [...this.byKey.values()])
      if (p.header.round < round) this.delete(p.author, p.header.round);
  }

  /** Evicts the least recently advanced partials (never `keep`) until `bytes` more fit. */
  private makeRoom(bytes: number, keep: string): string[] {
    const evicted: string[] = [];
    for (const [k, p] of this.byKey) {
      if (this.held + bytes <= this.maxBytes) break;
      if (k === keep) continue;
      this.held -= p.bytes;
      this.byKey.delete(k);
      evicted.push(p.author);
    }
    return evicted;
  }
}

function key(author: string, round: number): string {
  return `${author}/${round}`;
}
