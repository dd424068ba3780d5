import { describe, expect, it } from 'vitest';
import { dialableBy } from '../src/transports.js';

describe('dialableBy', () => {
  it('gives Node peers direct addresses and tabs WebSockets or relayed WebRTC', () => {
    const relay = '/ip4/127.0.0.1/tcp/4002/ws/p2p/12D3KooWRelay';
    const tab = `${relay}/p2p-circuit/webrtc/p2p/12D3KooWTab`;
    const worker = '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWWorker';
    const secure = '/dns4/swarm.example.org/tcp/443/tls/ws/p2p/12D3KooWRelay';
    // A plain relayed connection is too limited for gossip; a tab cannot reach a relay over TCP.
    const limited = `${relay}/p2p-circuit/p2p/12D3KooWTab`;
    const overTcp = `${worker}/p2p-circuit/webrtc/p2p/12D3KooWTab`;
    const all = [relay, tab, worker, secure, limited, overTcp];
    expect(all.map(dialableBy('node'))).toEqual([true, false, true, true, false, false]);
    expect(all.map(dialableBy('browser'))).toEqual([true, true, false, true, false, false]);
  });
});
