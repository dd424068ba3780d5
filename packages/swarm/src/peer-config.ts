/**
 * The one configuration both peer factories take, validated with zod. Defaults suit a real deployment;
 * tests shorten the timings and switch off IP-colocation scoring (all peers share 127.0.0.1).
 */
import { multiaddr } from '@multiformats/multiaddr';
import { IceServer, PROTOCOL_LIMITS, PeerRole } from '@slimswarm/protocol';
import { z } from 'zod';
import { InvalidPeerConfigError } from './errors.js';

const Multiaddr = z.string().refine(
  (s) => {
    try {
      multiaddr(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not a multiaddr' },
);

const Ms = z
  .number()
  .int()
  .min(1)
  .max(24 * 3600 * 1000);

export const GossipConfig = z
  .object({
    /** Mesh degree and its bounds (gossipsub D, Dlo, Dhi). */
    D: z.number().int().min(1).max(64).default(6),
    Dlo: z.number().int().min(1).max(64).default(4),
    Dhi: z.number().int().min(1).max(128).default(12),
    heartbeatIntervalMs: Ms.default(1000),
    /** How long gossipsub remembers message ids; replays after it are caught by the (peer, round) rule. */
    seenTtlMs: Ms.default(120_000),
    /** 0 in tests and behind one relay, where many honest peers share an address. */
    ipColocationFactorWeight: z.number().finite().max(0).default(-53),
    /**
     * How long a peer whose Rejects put it below the graylist threshold stays banned: disconnected, and
     * hung up on if it comes back (gossip-scoring.ts).
     */
    graylistBanMs: Ms.default(10 * 60_000),
  })
  .strict()
  .refine((g) => g.Dlo <= g.D && g.D <= g.Dhi, { message: 'need Dlo ≤ D ≤ Dhi' });
export type GossipConfig = z.infer<typeof GossipConfig>;

export const SwarmTimings = z
  .object({
    /** Period of this peer's heartbeat (liveness and dashboard metrics). */
    heartbeatIntervalMs: Ms.default(5000),
    /** Period of the anti-entropy summary. */
    antiEntropyIntervalMs: Ms.default(3000),
    /**
     * Above this many peers heard, heartbeats and summaries slow down, and freshness lasts longer, in
     * proportion, up to `maxSpread` times (timed-spread.ts): each peer takes in about this many of each per
     * interval, however large the swarm.
     */
    spreadAbove: z
      .number()
      .int()
      .min(1)
      .max(1 << 20)
      .default(32),
    maxSpread: z.number().min(1).max(1024).default(16),
    /** How often the round-closing rule and the resync rule are evaluated. */
    tickMs: Ms.default(200),
    /** Give up on one weight-sync or delta-pull exchange after this long. */
    streamTimeoutMs: Ms.default(30_000),
    /**
     * Bytes of round records kept for syncs by replay (history-sync.ts); the oldest go first, and the log
     * then no longer reaches back to the base checkpoint.
     */
    maxLogBytes: z
      .number()
      .int()
      .min(1 << 20)
      .max(2 ** 34)
      .default(64 << 20),
    /** Largest delta payload slice per gossip message; larger payloads are split into parts. */
    maxPartBytes: z
      .number()
      .int()
      .min(256)
      .max(PROTOCOL_LIMITS.maxGossipFrameBytes - 16 * 1024)
      .default(PROTOCOL_LIMITS.maxGossipFrameBytes - 16 * 1024),
    // Resource bounds (docs/swarm-protocol.md § Resource bounds): what any remote peer can make this one
    // hold or do is capped here, so a flood costs the victim a bounded amount whoever sends it.
    /**
     * Bytes held in deltas whose gossip parts are still arriving, all authors together; beyond it the one
     * that advanced least recently is evicted (it can still be pulled whole). One largest delta always fits.
     */
    maxPartialBytes: z
      .number()
      .int()
      .min(1 << 20)
      .default(64 << 20),
    /** Entries of every per-peer table (heartbeats, summaries, highest round signed, contributions). */
    maxPeersTracked: z
      .number()
      .int()
      .min(16)
      .max(1 << 20)
      .default(1024),
    /** Pulls served at once, to one remote peer and to all together; more are hung up on unanswered. */
    maxPullsPerPeer: z.number().int().min(1).max(64).default(2),
    maxPullsServed: z.number().int().min(1).max(1024).default(16),
    /** Pulls this peer runs at once (one summary names what it lacks; later summaries name it again). */
    maxPullsOut: z.number().int().min(1).max(64).default(4),
    /**
     * Ref lists this peer asks for per anti-entropy period, from senders whose summary digests differ from
     * its own (half by most refs claimed, half drawn); one that brought nothing is not asked again for a few periods.
     */
    refListsPerPeriod: z.number().int().min(1).max(64).default(2),
    /** Ref lists served per anti-entropy period, to one remote peer and to all; more are hung up on. */
    maxRefListsPerPeer: z.number().int().min(1).max(64).default(2),
    maxRefListsServed: z.number().int().min(1).max(1024).default(32),
    /** Bytes of one pull answer; at least one largest delta is always sent. */
    maxPullAnswerBytes: z
      .number()
      .int()
      .min(1 << 20)
      .default(32 << 20),
    /**
     * A trainer's heartbeats hold a round open only while it shows work: a delta accepted in the last
     * `liveRounds` rounds, or within `graceRounds` rounds of its first heartbeat (a newcomer's grace). A
     * grace of 1 would stall a heartbeat flood only one round, but it left a peer slower than a round
     * uncounted and split the swarm (faults.test.ts): 3 until that is solved otherwise.
     */
    liveRounds: z.number().int().min(1).max(64).default(3),
    graceRounds: z.number().int().min(1).max(64).default(3),
  })
  .strict();
export type SwarmTimings = z.infer<typeof SwarmTimings>;

export const PeerConfig = z
  .object({
    role: PeerRole.default('worker'),
    identity: z
      .discriminatedUnion('kind', [
        /** Node: a libp2p private key (protobuf bytes) in a file, created on first start. */
        z.object({ kind: z.literal('file'), path: z.string().min(1) }).strict(),
        /** Browser (or any caller that stores the key itself): the protobuf-encoded private key. */
        z
          .object({
            kind: z.literal('bytes'),
            privateKey: z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'expected protobuf key bytes'),
          })
          .strict(),
        /** A fresh key every start (tests, dashboards). */
        z.object({ kind: z.literal('ephemeral') }).strict(),
      ])
      .default({ kind: 'ephemeral' }),
    listen: z.array(Multiaddr).max(16).default([]),
    announce: z.array(Multiaddr).max(16).default([]),
    bootstrap: z.array(Multiaddr).max(64).default([]),
    gossip: GossipConfig.default(GossipConfig.parse({})),
    swarm: SwarmTimings.default(SwarmTimings.parse({})),
    /** Node only: offer circuit-relay reservations so browsers can reach each other through this peer. */
    relayServer: z.boolean().default(false),
    /**
     * Browser only: STUN/TURN servers for WebRTC between tabs. Empty means host candidates only, which
     * reach tabs on the same machine or network; tabs behind different NATs need the job's STUN servers.
     */
    iceServers: z.array(IceServer).max(PROTOCOL_LIMITS.maxIceServers).default([]),
    /** Browser only: allow ws:// and private addresses (local development and tests). */
    allowInsecureLocal: z.boolean().default(false),
  })
  .strict();
export type PeerConfig = z.infer<typeof PeerConfig>;
export type PeerConfigInput = z.input<typeof PeerConfig>;

export function parsePeerConfig(input: unknown): PeerConfig {
  const parsed = PeerConfig.safeParse(input);
  if (!parsed.success) throw new InvalidPeerConfigError(`invalid peer config: ${parsed.error.message}`);
  return parsed.data;
}
