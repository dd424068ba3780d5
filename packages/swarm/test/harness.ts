/** Helpers for the multi-peer tests: fast timings, peers on one transport, waiting, signed frames. */
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { gossipsub } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import type { PrivateKey } from '@libp2p/interface';
import { memory } from '@libp2p/memory';
import {
  PROTOCOL_VERSION,
  encodeFrame,
  sha256Hex,
  tensorFromTyped,
  type AdmissionJob,
  type AdmissionStamp,
  type CodecId,
  type DeltaAnnouncement,
} from '@slimswarm/protocol';
import { createLibp2p } from 'libp2p';
import { expect } from 'vitest';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { deltaSigner, type DeltaSigner } from '../src/signature.js';
import { stampFor } from './identities.js';
import { createNodePeer, type SwarmPeer } from '../src/peer.js';
import { createSwarmReplica, type SwarmReplica } from '../src/replica.js';
import type { PeerConfigInput } from '../src/peer-config.js';
import { flat, localSteps, named, type SyntheticProblem } from '../bench/synthetic-problem.js';

export { flat, named, trainLoop } from '../bench/synthetic-problem.js';

/** `replica`'s delta for its open round: 5 local steps on peer `index`'s data from its current model. */
export async function contribute(replica: SwarmReplica, problem: SyntheticProblem, index: number) {
  const base = replica.current();
  const local = localSteps(problem, index, flat(base.weights, problem), 5, 0.5);
  return replica.contribute(base, named(local, problem), { tokens: 10, steps: 5, meanLoss: 1 });
}

export const FAST: Pick<PeerConfigInput, 'gossip' | 'swarm'> = {
  gossip: { ipColocationFactorWeight: 0, heartbeatIntervalMs: 100, seenTtlMs: 30_000 },
  swarm: { heartbeatIntervalMs: 200, antiEntropyIntervalMs: 300, tickMs: 25, streamTimeoutMs: 5_000 },
};

export async function memoryPeers(
  prefix: string,
  n: number,
  extra: Partial<PeerConfigInput> = {},
): Promise<SwarmPeer[]> {
  const peers = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      createNodePeer({ ...FAST, listen: [`/memory/${prefix}-${i}`], ...extra }),
    ),
  );
  // Full mesh: every pair connected once.
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) await peers[i]!.dial(peers[j]!.getMultiaddrs()[0]!);
  return peers;
}

export async function waitFor(
  what: string,
  cond: () => boolean,
  timeoutMs = 20_000,
  everyMs = 25,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Joins every peer to the job with the same initial weights; stopping them is added to `cleanup`. */
export async function joinReplicas(
  peers: SwarmPeer[],
  manifest: unknown,
  w0: Record<string, Float32Array>,
  cleanup: (() => Promise<void>)[],
): Promise<SwarmReplica[]> {
  const replicas = await Promise.all(
    peers.map((peer) => createSwarmReplica({ peer, manifest, initialWeights: w0 })),
  );
  cleanup.push(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await Promise.all(peers.map((p) => p.stop()));
  });
  return replicas;
}

/** What a hand-made delta needs of its author: its signer and its admission stamp. */
export interface Author {
  sign: DeltaSigner;
  admission: AdmissionStamp;
}

/** The author `key` makes, admitted to `job` (a stamp minted for its peer id). */
export function authorOf(key: PrivateKey, job: AdmissionJob): Author {
  return { sign: deltaSigner(key), admission: stampFor(job, peerIdFromPrivateKey(key).toString()) };
}

/**
 * A round-0 delta-announce frame that carries `payload` whole (part 0 of 1) under `codec`, against the
 * base `base`, signed by `author`: valid in every field the header has, whatever the payload holds.
 */
export function signedDeltaFrame(o: {
  jobId: string;
  base: string;
  codec: CodecId;
  payload: Uint8Array;
  author: Author;
  /** The round the delta is for, its base of the same round (default 0). */
  round?: number;
  /** Header fields to change before signing (so the frame fails only for what the patch breaks). */
  patch?: Partial<DeltaAnnouncement>;
}): Uint8Array {
  const round = o.patch?.round ?? o.round ?? 0;
  const unsigned: Omit<DeltaAnnouncement, 'authorSignature'> = {
    admission: o.author.admission,
    type: 'delta-announce',
    version: PROTOCOL_VERSION,
    jobId: o.jobId,
    round,
    baseRound: round,
    baseModelSha256: o.base,
    stats: { tokens: 1, steps: 1, meanLoss: 0 },
    codec: o.codec,
    payloadBytes: o.payload.length,
    payloadSha256: sha256Hex(o.payload),
    partDigests: [sha256Hex(o.payload)],
    part: { index: 0, count: 1 },
    ...o.patch,
  };
  return encodeFrame(
    { ...unsigned, authorSignature: o.author.sign(unsigned) },
    { part: tensorFromTyped('u8', [o.payload.length], o.payload) },
  );
}

/** A libp2p node with gossipsub only (no swarm service, no scoring of ours): attackers speak by hand. */
export function bareGossipNode(
  name: string,
  privateKey?: PrivateKey,
  policy: 'StrictSign' | 'StrictNoSign' = 'StrictSign',
) {
  return createLibp2p({
    ...(privateKey ? { privateKey } : {}),
    addresses: { listen: [`/memory/${name}`] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({ globalSignaturePolicy: policy, allowPublishToZeroTopicPeers: true }),
    },
  });
}

/** Every replica at the same round with bitwise-identical weights. */
export function expectIdentical(replicas: SwarmReplica[]): void {
  const s = replicas.map((r) => r.current());
  for (const x of s) {
    expect(x.round).toBe(s[0]!.round);
    expect(x.sha256).toBe(s[0]!.sha256);
    for (const name of Object.keys(x.weights)) {
      expect(Buffer.from(x.weights[name]!.buffer).equals(Buffer.from(s[0]!.weights[name]!.buffer))).toBe(
        true,
      );
    }
  }
}
