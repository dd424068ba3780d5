/** Colours shared by the graph and the charts, so one peer has one colour everywhere. */
import type { PeerRole } from '@slimswarm/protocol';

const PEER_COLOURS = ['#2f6fde', '#e07a1f', '#23853b', '#b03ab0', '#c0392b', '#1f9fb4', '#8a6d3b', '#5b6470'];

export const ROLE_COLOURS: Record<PeerRole | 'unknown', string> = {
  worker: '#2f6fde',
  browser: '#e07a1f',
  coordinator: '#5b6470',
  dashboard: '#8e5ad6',
  unknown: '#a0a7b0',
};

export class PeerColours {
  private readonly assigned = new Map<string, string>();

  of(peer: string): string {
    let colour = this.assigned.get(peer);
    if (!colour) {
      colour = PEER_COLOURS[this.assigned.size % PEER_COLOURS.length]!;
      this.assigned.set(peer, colour);
    }
    return colour;
  }
}

export function shortId(peer: string): string {
  return peer.length > 10 ? `…${peer.slice(-6)}` : peer;
}
