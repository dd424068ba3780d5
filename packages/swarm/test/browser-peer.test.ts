import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { afterEach, describe, expect, it } from 'vitest';
import { syntheticManifest, syntheticProblem, zeroWeights } from '../bench/synthetic-problem.js';
import { ModelLayout } from '../src/model-layout.js';
import { createBrowserPeer, createNodePeer } from '../src/peer.js';
import { createSwarmReplica } from '../src/replica.js';
import { modelSha256 } from '../src/wire.js';
import { InvalidPeerConfigError } from '../src/errors.js';
import { FAST, waitFor } from './harness.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe('browser peer factory (run in Node with the WebSocket polyfill)', () => {
  it('keeps the identity it is given, dials a Node peer over ws:// and joins by weight sync', async () => {
    const problem = syntheticProblem(512, 2);
    const layout = new ModelLayout(problem.shapes);
    const w0 = zeroWeights(problem);
    const manifest = syntheticManifest({ baseSha256: modelSha256(layout, layout.flatten(w0)), params: 512 });
    const node = await createNodePeer({ ...FAST, listen: ['/ip4/127.0.0.1/tcp/0/ws'] });
    const nodeReplica = await createSwarmReplica({ peer: node, manifest, initialWeights: w0 });
    const key = await generateKeyPair('Ed25519');
    const browser = await createBrowserPeer({
      ...FAST,
      role: 'browser',
      identity: { kind: 'bytes', privateKey: privateKeyToProtobuf(key) },
      allowInsecureLocal: true,
    });
    cleanup.push(async () => {
      await nodeReplica.stop();
      await browser.stop();
      await node.stop();
    });
    expect(browser.peerId.toString()).toBe(peerIdFromPrivateKey(key).toString());
    await browser.dial(node.getMultiaddrs()[0]!);
    const replica = await createSwarmReplica({
      peer: browser,
      manifest,
      initialWeights: w0,
      syncFromPeers: true,
    });
    cleanup.unshift(() => replica.stop());
    expect(replica.current().sha256).toBe(nodeReplica.current().sha256);
    await waitFor('the node counts the browser as a trainer', () => nodeReplica.activeContributors() === 2);
  });

  it('refuses configurations a browser cannot have', async () => {
    await expect(createBrowserPeer({ identity: { kind: 'file', path: '/tmp/x' } })).rejects.toThrow(
      InvalidPeerConfigError,
    );
    await expect(createBrowserPeer({ relayServer: true })).rejects.toThrow(InvalidPeerConfigError);
  });
});
