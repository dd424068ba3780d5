/**
 * What a joined job needs from the network, and nothing more: the service (swarm-service.ts) implements
 * it over libp2p, unit tests over in-memory fakes. Peers are named by their peer id strings.
 */
import type { ComponentLogger } from '@libp2p/interface';
import type { PeerRole } from '@slimswarm/protocol';
import type { SwarmTimings } from './peer-config.js';
import type { Refusal } from './delta-verdict.js';
import type { SwarmEvents } from './events.js';
import type { DeltaSigner } from './signature.js';
import type { SwarmCounters } from './stats.js';

/** The stream protocols a job speaks (ids in @slimswarm/protocol's PROTOCOL_IDS). */
export type StreamProtocol = 'weightSync' | 'antiEntropy';

/** A gossip message as a topic handler sees it: its signed sender and its frame bytes. */
export interface GossipIn {
  from: string;
  data: Uint8Array;
}

/** Accept forwards the message; a refusal is counted, and a reject lowers the sender's gossip score. */
export type GossipVerdict = { action: 'accept' } | Refusal;

/** Length-prefixed frames over one stream; bytes are counted both ways. */
export interface FrameStream {
  /** The next frame, or null once the remote has closed its side. */
  read(signal: AbortSignal): Promise<Uint8Array | null>;
  write(frame: Uint8Array, signal: AbortSignal): Promise<void>;
  close(signal: AbortSignal): Promise<void>;
  /** Resets the stream at once (both directions): what is in flight is dropped, not read. */
  abort(err: Error): void;
}

export type StreamHandler = (stream: FrameStream, remote: string) => Promise<void>;

export interface SwarmNetwork {
  readonly selfId: string;
  readonly role: PeerRole;
  readonly timings: SwarmTimings;
  readonly events: SwarmEvents;
  readonly counters: SwarmCounters;
  readonly logger: ComponentLogger;
  /** Signs this peer's delta headers. */
  readonly signDelta: DeltaSigner;
  /** Subscribes to `topic`; every message is judged by `handle` before gossipsub forwards it. */
  subscribe(topic: string, handle: (msg: GossipIn) => GossipVerdict): void;
  unsubscribe(topic: string): void;
  publish(topic: string, frame: Uint8Array): Promise<void>;
  /**
   * Opens a stream of `protocol` to `peer`. A frame whose length prefix exceeds `maxFrameBytes` (default
   * the protocol's stream limit) fails the read before any of it is buffered.
   */
  dial(
    peer: string,
    protocol: StreamProtocol,
    signal: AbortSignal,
    maxFrameBytes?: number,
  ): Promise<FrameStream>;
  /** Serves inbound streams of `protocol` with `handler` (one job at a time); null stops serving. */
  serve(protocol: StreamProtocol, handler: StreamHandler | null): void;
  /** Runs `hook` when the peer stops (a joined job leaves first); returns a function that removes it. */
  onStop(hook: () => Promise<void>): () => void;
  connectedPeers(): string[];
  /** Peers reached over a direct WebRTC channel. */
  webRtcPeers(): string[];
}
