import { describe, expect, it } from 'vitest';
import { browserDialable } from '../src/feed.js';

describe('browserDialable', () => {
  it('keeps only WebSocket multiaddrs', () => {
    const id = '/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq';
    expect(
      browserDialable([
        `/ip4/127.0.0.1/tcp/4001${id}`,
        `/ip4/127.0.0.1/tcp/4002/ws${id}`,
        `/dns4/example.org/tcp/443/wss${id}`,
        `/dns4/example.org/tcp/443/tls/ws${id}`,
      ]),
    ).toEqual([
      `/ip4/127.0.0.1/tcp/4002/ws${id}`,
      `/dns4/example.org/tcp/443/wss${id}`,
      `/dns4/example.org/tcp/443/tls/ws${id}`,
    ]);
  });
});
