/**
 * The libp2p service (js-libp2p style: `swarmService(init)(components)`, registered as `swarm`). It is
 * the job's SwarmNetwork (network.ts): gossip topics with validators, the stream protocols (weight sync,
 * anti-entropy pulls), the counters and events. It knows nothing of rounds or models; a joined job
 * (replica.ts) uses it through that interface. It needs gossipsub registered as `pubsub` before it.
 */
import { TopicValidatorResult, type GossipSub } from '@libp2p/gossipsub';
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
import { peerIdFromString } from '@libp2p/peer-id';
import { PROTOCOL_IDS, PROTOCOL_LIMITS, type PeerRole } from '@slimswarm/protocol';
import type { SwarmTimings } from './peer-config.js';
import { forwarderChecks } from './delta-verdict.js';
import { NotStartedError } from './errors.js';
import { scoreTopic, scoringOf, type GraylistGuard } from './gossip-scoring.js';
import { SwarmEvents } from './events.js';
import { frameStream } from './frame-stream.js';
import type { GossipRejectTap } from './gossip-tap.js';
import type {
  FrameStream,
  GossipIn,
  GossipVerdict,
  StreamHandler,
  StreamProtocol,
  SwarmNetwork,
} from './network.js';
import { deltaSigner, type DeltaSigner } from './signature.js';
import { SwarmCounters, type SwarmStats } from './stats.js';
import { webRtcPeers } from './transports.js';

/** The parts of the libp2p registrar and connection manager this service uses. */
export interface SwarmServiceComponents {
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
    closeConnections(peer: PeerId): Promise<void>;
  };
  /** gossipsub, registered under the service name `pubsub`. */
  pubsub?: GossipSub;
}

export interface SwarmServiceInit {
  role: PeerRole;
  timings: SwarmTimings;
  /** Passed to gossipsub as its metricsRegister too, to count messages refused for their signature. */
  rejectTap?: GossipRejectTap;
  /**
   * Bans peers whose Rejects put them below the graylist threshold; its appSpecificScore must be the one
   * gossipsub was built with (peer.ts). Without it, nobody is disconnected for their score.
   */
  guard?: GraylistGuard;
}

const STREAM_PROTOCOLS: readonly StreamProtocol[] = ['weightSync', 'antiEntropy'];

const VALIDATOR_RESULT = {
  accept: TopicValidatorResult.Accept,
  ignore: TopicValidatorResult.Ignore,
  reject: TopicValidatorResult.Reject,
} as const;

export class SwarmService implements Startable, SwarmNetwork {
  readonly [Symbol.toStringTag] = '@slimswarm/swarm-service';
  readonly events = new SwarmEvents();
  readonly counters = new SwarmCounters(this.events);
  readonly role: PeerRole;
  readonly timings: SwarmTimings;
  readonly signDelta: DeltaSigner;
  readonly selfId: string;
  private readonly log: Logger;
  private started = false;
  private readonly handlers = new Map<StreamProtocol, StreamHandler>();
  private readonly stopHooks = new Set<() => Promise<void>>();
  private readonly guard: GraylistGuard | null;
  private readonly onConnect = (e: CustomEvent<PeerId>) => {
    // A banned peer that comes back is hung up on at once (gossipsub would start it from a clean score).
    this.events.emit('peer:connect', { peer: e.detail.toString() });
    if (this.guard?.isBanned(e.detail.toString())) void this.hangUp(e.detail);
  };
  private readonly onGossipHeartbeat = () => this.sweepScores();
  private readonly onDisconnect = (e: CustomEvent<PeerId>) =>
    this.events.emit('peer:disconnect', { peer: e.detail.toString() });

  constructor(
    private readonly components: SwarmServiceComponents,
    init: SwarmServiceInit,
  ) {
    this.role = init.role;
    this.timings = init.timings;
    if (init.rejectTap)
      init.rejectTap.onBadSignature = () =>
        this.counters.refused('unknown', { action: 'reject', reason: 'bad-signature' });
    this.guard = init.guard ?? null;
    this.signDelta = deltaSigner(components.privateKey);
    this.selfId = components.peerId.toString();
    this.log = components.logger.forComponent('slimswarm:swarm');
  }

  get logger(): ComponentLogger {
    return this.components.logger;
  }

  async start(): Promise<void> {
    const options = { maxInboundStreams: 32, maxOutboundStreams: 32 };
    for (const protocol of STREAM_PROTOCOLS) {
      await this.components.registrar.handle(
        PROTOCOL_IDS[protocol],
        (s, c) => this.inbound(protocol, s, c),
        options,
      );
    }
    this.components.events.addEventListener('peer:connect', this.onConnect);
    this.components.events.addEventListener('peer:disconnect', this.onDisconnect);
    if (this.guard) this.components.pubsub?.addEventListener('gossipsub:heartbeat', this.onGossipHeartbeat);
    this.started = true;
  }

  async stop(): Promise<void> {
    this.started = false;
    for (const hook of [...this.stopHooks]) await hook();
    this.stopHooks.clear();
    this.handlers.clear();
    this.components.events.removeEventListener('peer:connect', this.onConnect);
    this.components.events.removeEventListener('peer:disconnect', this.onDisconnect);
    this.components.pubsub?.removeEventListener('gossipsub:heartbeat', this.onGossipHeartbeat);
    for (const protocol of STREAM_PROTOCOLS) await this.components.registrar.unhandle(PROTOCOL_IDS[protocol]);
  }

  isStarted(): boolean {
    return this.started;
  }

  /** Runs `hook` when the service stops (a joined job leaves first); returns a function that removes it. */
  onStop(hook: () => Promise<void>): () => void {
    this.stopHooks.add(hook);
    return () => this.stopHooks.delete(hook);
  }

  /** A copy of the counters. */
  stats(): SwarmStats {
    return this.counters.snapshot();
  }

  private get pubsub(): GossipSub {
    const p = this.components.pubsub;
    if (!p || !this.started)
      throw new NotStartedError('the swarm service needs a started gossipsub as `pubsub`');
    return p;
  }

  /** Subscribes with a validator; the topic is scored from now on, so its Rejects lower the sender's score. */
  subscribe(topic: string, handle: (msg: GossipIn) => GossipVerdict): void {
    const pubsub = this.pubsub;
    scoreTopic(pubsub, topic);
    pubsub.topicValidators.set(topic, (forwarder, msg) => {
      this.counters.bytes(msg.data.length, 0);
      const from = msg.type === 'signed' ? msg.from.toString() : 'unsigned';
      const v = handle({ from, data: msg.data });
      if (v.action === 'accept') return TopicValidatorResult.Accept;
      this.counters.refused(from, v);
      this.log('%s on %s from %s: %s', v.action, topic, from, v.reason);
      // Gossipsub blames a Reject on the peer that handed the message on. An honest forwarder checked the
      // frame, but not what depends on its own round state or on parts still to come: for those only
      // the author itself is blamed.
      if (v.action === 'reject' && !forwarderChecks(v.reason) && forwarder.toString() !== from)
        return TopicValidatorResult.Ignore;
      return VALIDATOR_RESULT[v.action];
    });
    pubsub.subscribe(topic);
  }

  unsubscribe(topic: string): void {
    const pubsub = this.components.pubsub;
    if (!pubsub) return;
    pubsub.topicValidators.delete(topic);
    try {
      if (pubsub.getTopics().includes(topic)) pubsub.unsubscribe(topic);
    } catch (err) {
      // libp2p stops its services concurrently: gossipsub may already be down, with nothing left to undo.
      this.log('unsubscribe from %s skipped: %e', topic, err);
    }
  }

  async publish(topic: string, frame: Uint8Array): Promise<void> {
    await this.pubsub.publish(topic, frame);
    this.counters.bytes(0, frame.length);
  }

  connectedPeers(): string[] {
    return [
      ...new Set(this.components.connectionManager.getConnections().map((c) => c.remotePeer.toString())),
    ];
  }

  webRtcPeers(): string[] {
    return webRtcPeers(this.components.connectionManager.getConnections());
  }

  async dial(
    peer: string,
    protocol: StreamProtocol,
    signal: AbortSignal,
    maxFrameBytes: number = PROTOCOL_LIMITS.maxStreamFrameBytes,
  ): Promise<FrameStream> {
    const id =
      this.components.connectionManager.getConnections().find((c) => c.remotePeer.toString() === peer)
        ?.remotePeer ?? peerIdFromString(peer);
    const stream = await this.components.connectionManager.openStream(id, PROTOCOL_IDS[protocol], { signal });
    return frameStream(stream, Math.min(maxFrameBytes, PROTOCOL_LIMITS.maxStreamFrameBytes), this.counters);
  }

  serve(protocol: StreamProtocol, handler: StreamHandler | null): void {
    if (handler) this.handlers.set(protocol, handler);
    else this.handlers.delete(protocol);
  }

  /** After each gossipsub heartbeat: disconnects the peers the guard bans (gossip-scoring.ts). */
  private sweepScores(): void {
    const pubsub = this.components.pubsub;
    if (!this.guard || !pubsub || !this.started) return;
    const peers = pubsub.getPeers();
    const byId = new Map(peers.map((p) => [p.toString(), p]));
    for (const { peer, score, until } of this.guard.sweep(scoringOf(pubsub), [...byId.keys()])) {
      this.log(
        'graylisted %s (score %d) until %s: disconnecting',
        peer,
        score,
        new Date(until).toISOString(),
      );
      this.events.emit('peer:graylisted', { peer, score, until });
      void this.hangUp(byId.get(peer)!);
    }
  }

  private async hangUp(peer: PeerId): Promise<void> {
    try {
      await this.components.connectionManager.closeConnections(peer);
    } catch (err) {
      this.log('closing the connections of %p failed: %e', peer, err);
    }
  }

  private async inbound(protocol: StreamProtocol, stream: Stream, connection: Connection): Promise<void> {
    const handler = this.handlers.get(protocol);
    try {
      if (!handler) {
        stream.abort(new NotStartedError('no job joined'));
        return;
      }
      // Requests are small: an inbound stream's frames are held to the gossip limit.
      const frames = frameStream(stream, PROTOCOL_LIMITS.maxGossipFrameBytes, this.counters);
      await handler(frames, connection.remotePeer.toString());
    } catch (err) {
      this.log.error('%s stream from %p failed: %e', protocol, connection.remotePeer, err);
      stream.abort(err as Error);
    }
  }
}

export function swarmService(init: SwarmServiceInit): (components: SwarmServiceComponents) => SwarmService {
  return (components) => new SwarmService(components, init);
}
