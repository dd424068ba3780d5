/**
 * The libp2p service (js-libp2p style: `deltaGossip(init)(components)`). It owns the stream protocols
 * (weight sync, anti-entropy pulls), the swarm events and counters, and at most one joined job at a time
 * (a SwarmReplica, see replica.ts). It needs gossipsub registered as the `pubsub` service before it.
 */
import type { GossipSub } from '@libp2p/gossipsub';
import type {
  ComponentLogger,
  Connection,
  Libp2pEvents,
  Logger,
  PeerId,
  PrivateKey,
  Startable,
  Stream,
  TypedEventTarget,
} from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import { PROTOCOL_IDS, PROTOCOL_LIMITS, type PeerRole } from '@slimswarm/protocol';
import type { SwarmTimings } from './config.js';
import { IGNORE_REASONS, REJECT_REASONS, type IgnoreReason, type RejectReason } from './engine.js';
import { NotStartedError } from './errors.js';
import { SwarmEvents } from './events.js';
import type { GossipRejectTap } from './gossip-tap.js';
import type { SwarmReplica } from './replica.js';
import { deltaSigner, type DeltaSigner } from './signature.js';
import { webRtcPeers } from './transports.js';

/** The parts of the libp2p registrar and connection manager this service uses. */
export interface DeltaGossipComponents {
  peerId: PeerId;
  /** Signs this peer's deltas (see signature.ts). */
  privateKey: PrivateKey;
  logger: ComponentLogger;
  events: TypedEventTarget<Libp2pEvents>;
  registrar: {
    handle(
      protocol: string,
      handler: (stream: Stream, connection: Connection) => void | Promise<void>,
      options?: { maxInboundStreams?: number; maxOutboundStreams?: number },
    ): Promise<void>;
    unhandle(protocol: string): Promise<void>;
  };
  connectionManager: {
    openStream(peer: PeerId, protocol: string, options?: { signal?: AbortSignal }): Promise<Stream>;
    getConnections(): Connection[];
  };
  /** gossipsub, registered under the service name `pubsub`. */
  pubsub?: GossipSub;
}

export interface DeltaGossipInit {
  role: PeerRole;
  timings: SwarmTimings;
  /** Passed to gossipsub as its metricsRegister too, to count messages refused for their signature. */
  rejectTap?: GossipRejectTap;
}

/** Counters for dashboards and tests: one per rejection and ignore reason, bytes, rounds. */
export interface SwarmStats {
  rejected: Record<RejectReason, number>;
  ignored: Record<IgnoreReason, number>;
  accepted: number;
  bytesIn: number;
  bytesOut: number;
  roundsClosed: number;
  resyncs: number;
}

/** A handler the joined job installs for one stream protocol. */
export type StreamResponder = (stream: Stream, remote: PeerId) => Promise<void>;

export class DeltaGossip implements Startable {
  readonly [Symbol.toStringTag] = '@slimswarm/delta-gossip';
  readonly events = new SwarmEvents();
  readonly role: PeerRole;
  readonly timings: SwarmTimings;
  readonly log: Logger;
  /** Signs this peer's delta headers. */
  readonly signDelta: DeltaSigner;
  private readonly counters: SwarmStats;
  private started = false;
  private replica: SwarmReplica | null = null;
  private readonly onConnect = (e: CustomEvent<PeerId>) =>
    this.events.emit('peer:connect', { peer: e.detail.toString() });
  private readonly onDisconnect = (e: CustomEvent<PeerId>) =>
    this.events.emit('peer:disconnect', { peer: e.detail.toString() });

  constructor(
    readonly components: DeltaGossipComponents,
    init: DeltaGossipInit,
  ) {
    this.role = init.role;
    if (init.rejectTap)
      init.rejectTap.onBadSignature = () =>
        this.countVerdict('unknown', { action: 'reject', reason: 'bad-signature' });
    this.timings = init.timings;
    this.signDelta = deltaSigner(components.privateKey);
    this.log = components.logger.forComponent('slimswarm:swarm');
    this.counters = {
      rejected: Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>,
      ignored: Object.fromEntries(IGNORE_REASONS.map((r) => [r, 0])) as Record<IgnoreReason, number>,
      accepted: 0,
      bytesIn: 0,
      bytesOut: 0,
      roundsClosed: 0,
      resyncs: 0,
    };
  }

  async start(): Promise<void> {
    const options = { maxInboundStreams: 32, maxOutboundStreams: 32 };
    await this.components.registrar.handle(
      PROTOCOL_IDS.weightSync,
      (s, c) => this.serve('weightSync', s, c),
      options,
    );
    await this.components.registrar.handle(
      PROTOCOL_IDS.antiEntropy,
      (s, c) => this.serve('antiEntropy', s, c),
      options,
    );
    this.components.events.addEventListener('peer:connect', this.onConnect);
    this.components.events.addEventListener('peer:disconnect', this.onDisconnect);
    this.started = true;
  }

  async stop(): Promise<void> {
    this.started = false;
    await this.replica?.stop();
    this.replica = null;
    this.components.events.removeEventListener('peer:connect', this.onConnect);
    this.components.events.removeEventListener('peer:disconnect', this.onDisconnect);
    await this.components.registrar.unhandle(PROTOCOL_IDS.weightSync);
    await this.components.registrar.unhandle(PROTOCOL_IDS.antiEntropy);
  }

  isStarted(): boolean {
    return this.started;
  }

  /** A copy of the counters. */
  stats(): SwarmStats {
    return structuredClone(this.counters);
  }

  get pubsub(): GossipSub {
    const p = this.components.pubsub;
    if (!p || !this.started)
      throw new NotStartedError('the swarm service needs a started gossipsub as `pubsub`');
    return p;
  }

  /** Called by SwarmReplica: one job at a time. */
  attach(replica: SwarmReplica | null): void {
    this.replica = replica;
  }

  countVerdict(
    peer: string,
    v: { action: 'reject'; reason: RejectReason } | { action: 'ignore'; reason: IgnoreReason },
  ) {
    if (v.action === 'reject') this.counters.rejected[v.reason]++;
    else this.counters.ignored[v.reason]++;
    this.events.emit('delta:rejected', { peer, ...v });
  }

  countAccepted(): void {
    this.counters.accepted++;
  }

  countRound(kind: 'closed' | 'resync'): void {
    if (kind === 'closed') this.counters.roundsClosed++;
    else this.counters.resyncs++;
  }

  countBytes(bytesIn: number, bytesOut: number): void {
    this.counters.bytesIn += bytesIn;
    this.counters.bytesOut += bytesOut;
    this.events.emit('bytes', { bytesIn: this.counters.bytesIn, bytesOut: this.counters.bytesOut });
  }

  connectedPeers(): PeerId[] {
    const seen = new Map<string, PeerId>();
    for (const c of this.components.connectionManager.getConnections())
      seen.set(c.remotePeer.toString(), c.remotePeer);
    return [...seen.values()];
  }

  /** Peers reached over a direct WebRTC channel. */
  webRtcPeers(): string[] {
    return webRtcPeers(this.components.connectionManager.getConnections());
  }

  /** Opens a length-prefixed stream to `peer` with the stream frame limit. */
  async dial(peer: PeerId, protocol: 'weightSync' | 'antiEntropy', signal: AbortSignal) {
    const stream = await this.components.connectionManager.openStream(peer, PROTOCOL_IDS[protocol], {
      signal,
    });
    return lpStream(stream, { maxDataLength: PROTOCOL_LIMITS.maxStreamFrameBytes });
  }

  private async serve(protocol: 'weightSync' | 'antiEntropy', stream: Stream, connection: Connection) {
    const replica = this.replica;
    try {
      if (!replica) {
        stream.abort(new NotStartedError('no job joined'));
        return;
      }
      await replica.respond(protocol, stream, connection.remotePeer);
    } catch (err) {
      this.log.error('%s stream from %p failed: %e', protocol, connection.remotePeer, err);
      stream.abort(err as Error);
    }
  }
}

export function deltaGossip(init: DeltaGossipInit): (components: DeltaGossipComponents) => DeltaGossip {
  return (components) => new DeltaGossip(components, init);
}
