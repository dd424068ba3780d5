/**
 * The peer graph: one node per known peer (shape and colour by role, faded when silent), one edge per
 * connection any peer reports, drawn thick and dashed in the tabs' colour when it is a direct WebRTC link. The layout reruns only when nodes or edges change, so the picture holds
 * still between heartbeats.
 */
import cytoscape, { type Core } from 'cytoscape';
import type { Edge, SwarmState } from '../state.js';
import { ROLE_COLOURS, shortId } from './palette.js';

const SHAPES: Record<string, string> = {
  worker: 'round-rectangle',
  browser: 'ellipse',
  coordinator: 'diamond',
  dashboard: 'hexagon',
  unknown: 'ellipse',
};

export class TopologyView {
  private readonly cy: Core;
  private shape = '';

  constructor(container: HTMLElement) {
    this.cy = cytoscape({
      container,
      // A handful of peers would otherwise be zoomed to fill the box, labels and all.
      maxZoom: 1.3,
      userZoomingEnabled: false,
      boxSelectionEnabled: false,
      style: [
        {
          selector: 'node',
          style: {
            'background-color': 'data(colour)',
            shape: 'data(shape)' as never,
            label: 'data(label)',
            'font-size': 11,
            color: '#5b6470',
            'text-valign': 'bottom',
            'text-margin-y': 4,
            width: 28,
            height: 28,
          },
        },
        { selector: 'node.silent', style: { opacity: 0.35 } },
        { selector: 'node.self', style: { 'border-width': 3, 'border-color': '#1b1f24' } },
        { selector: 'edge', style: { width: 2, 'line-color': '#a0a7b0', 'curve-style': 'straight' } },
        {
          selector: 'edge.webrtc',
          style: { width: 3, 'line-color': ROLE_COLOURS.browser, 'line-style': 'dashed' },
        },
      ],
    });
  }

  update(state: SwarmState, edges: readonly Edge[], now: number): void {
    const peers = state.peerList();
    for (const peer of peers) {
      const role = peer.role ?? 'unknown';
      const data = {
        id: peer.id,
        label: `${role} ${shortId(peer.id)}`,
        colour: ROLE_COLOURS[role],
        shape: SHAPES[role],
        role,
      };
      const node = this.cy.getElementById(peer.id);
      if (node.empty()) this.cy.add({ group: 'nodes', data });
      else node.data(data);
      const current = this.cy.getElementById(peer.id);
      current.toggleClass('silent', !state.isLive(peer, now));
      current.toggleClass('self', peer.id === state.selfId);
    }
    const wanted = new Set(edges.map(({ a, b }) => `${a}|${b}`));
    this.cy.edges().forEach((e) => {
      if (!wanted.has(e.id())) e.remove();
    });
    for (const { a, b, webRtc } of edges) {
      if (this.cy.getElementById(`${a}|${b}`).empty()) {
        this.cy.add({ group: 'edges', data: { id: `${a}|${b}`, source: a, target: b } });
      }
      this.cy.getElementById(`${a}|${b}`).toggleClass('webrtc', webRtc);
    }
    const shape = `${peers.map((p) => p.id).join(',')};${[...wanted].sort().join(',')}`;
    if (shape !== this.shape) {
      this.shape = shape;
      this.cy.layout({ name: peers.length > 2 ? 'cose' : 'grid', animate: false, padding: 24 }).run();
    }
  }

  resize(): void {
    this.cy.resize();
    this.cy.fit(undefined, 24);
  }
}
