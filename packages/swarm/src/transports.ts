/**
 * Which transports reach which peers: the addresses a Node peer or a tab can use from a job listing, and
 * which open connections are direct WebRTC links.
 */
import type { Connection } from '@libp2p/interface';

/** Ids of the peers that `connections` reach over a direct WebRTC channel (open ones), sorted, once each. */
export function webRtcPeers(connections: readonly Connection[]): string[] {
  const direct = connections
    .filter((c) => c.status === 'open' && c.remoteAddr.toString().includes('/webrtc'))
    .map((c) => c.remotePeer.toString());
  return [...new Set(direct)].sort();
}

/**
 * Which listed addresses a peer of this kind can usefully dial. Node peers have no WebRTC and a plain
 * relayed connection is too limited for gossip, so they skip relayed addresses; tabs can open neither
 * TCP nor UDP sockets, so they take WebSocket endpoints and other tabs' relayed WebRTC addresses.
 */
export function dialableBy(kind: 'node' | 'browser'): (address: string) => boolean {
  if (kind === 'node') return (address) => !address.includes('/p2p-circuit');
  const webSocket = (address: string) => /\/wss?(\/|$)/.test(address) || address.includes('/tls/ws');
  return (address) => {
    const [relay, circuit] = address.split('/p2p-circuit');
    return circuit === undefined ? webSocket(address) : circuit.startsWith('/webrtc') && webSocket(relay!);
  };
}
