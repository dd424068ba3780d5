/**
 * Many identities from one attacker process, the two ways a flood needs them:
 *
 *  - Sybil keys for gossip: fresh Ed25519 keys that never open a connection. Their messages leave
 *    through the attacker's one libp2p node, signed by the Sybil's own key (gossipsub StrictSign): every
 *    receiver sees the Sybil as the author (`msg.from`) and the attacker's node only as the forwarder, which
 *    is what gossip allows any peer to be. Cheap: no handshakes, no gossipsub state per identity.
 *  - extra connections for the stream protocols: whole libp2p nodes (their own keys), each dialled into
 *    the swarm, because libp2p bounds the streams of one protocol per connection (32 inbound here).
 */
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys';
import type { GossipSub } from '@libp2p/gossipsub';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import {
  deltaSigningBytes,
  mintStamp,
  type AdmissionStamp,
  type DeltaAnnouncement,
  type JobManifest,
} from '@slimswarm/protocol';
import { createNodePeer, type SwarmPeer } from '@slimswarm/swarm';
import { connectToSwarm } from '@slimswarm/client';
import { toString } from 'uint8arrays';

/** gossipsub's PublishConfigType.Signing (an enum in its types module; the value is what travels here). */
const SIGNING = 0;

export interface Sybil {
  readonly id: string;
  readonly key: PrivateKey;
  /** What gossipsub signs a publish with (its internal PublishConfig for StrictSign). */
  readonly publishConfig: unknown;
  /** Its admission stamp for the job, minted like any volunteer's (cheap at the bench job's price). */
  readonly admission: AdmissionStamp;
}

export async function makeSybil(manifest: JobManifest): Promise<Sybil> {
  const key = await generateKeyPair('Ed25519');
  const author = peerIdFromPrivateKey(key);
  const bits = manifest.admission.mode === 'open' ? manifest.admission.difficultyBits : 0;
  return {
    id: author.toString(),
    key,
    publishConfig: { type: SIGNING, author, key: publicKeyToProtobuf(key.publicKey), privateKey: key },
    admission: await mintStamp(manifest.jobId, author.toString(), bits),
  };
}

export async function makeSybils(n: number, manifest: JobManifest): Promise<Sybil[]> {
  const out: Sybil[] = [];
  for (let i = 0; i < n; i++) out.push(await makeSybil(manifest));
  return out;
}

/** The part of gossipsub's internals a Sybil publish swaps (js-libp2p gossipsub 17). */
interface PublishInternals {
  publishConfig: unknown;
}

/**
 * Publishes `data` on `topic` through `pubsub` as `sybil`: gossipsub reads its publish config
 * synchronously at the start of publish() (buildRawMessage(this.publishConfig, …) runs before its first
 * await), so swapping it around the call signs this one message with the Sybil's key and nothing else.
 * Flood publish then hands it to every peer subscribed to the topic, as any publish.
 */
export function publishAs(
  pubsub: GossipSub,
  sybil: Sybil,
  topic: string,
  data: Uint8Array,
): Promise<unknown> {
  const internals = pubsub as unknown as PublishInternals;
  if (!('publishConfig' in internals)) throw new Error('gossipsub no longer has a publishConfig to swap');
  const own = internals.publishConfig;
  internals.publishConfig = sybil.publishConfig;
  try {
    return pubsub.publish(topic, data);
  } finally {
    internals.publishConfig = own;
  }
}

/**
 * The Sybil's signature over a delta header (hex), as the swarm's deltaSigner makes it: Ed25519 is
 * deterministic, so libp2p's (native) signer gives the same bytes as @noble/curves, only faster.
 */
export async function signDeltaAs(
  sybil: Sybil,
  unsigned: Omit<DeltaAnnouncement, 'part' | 'authorSignature' | 'admission'>,
): Promise<string> {
  return toString(await sybil.key.sign(deltaSigningBytes(unsigned)), 'base16');
}

/** `n` more libp2p nodes, each a fresh identity connected to `bootstrap` (stream floods open theirs on them). */
export async function extraConnections(n: number, bootstrap: readonly string[]): Promise<SwarmPeer[]> {
  const peers: SwarmPeer[] = [];
  for (let i = 0; i < n; i++) {
    const peer = await createNodePeer({
      role: 'worker',
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap: [...bootstrap],
      gossip: { ipColocationFactorWeight: 0 },
    });
    peers.push(peer);
  }
  await Promise.all(peers.map((p) => connectToSwarm(p, bootstrap)));
  return peers;
}
