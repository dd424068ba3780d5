/**
 * Peer factories. Both build a libp2p node from one validated PeerConfig with noise, yamux, gossipsub
 * (StrictSign), identify, ping, bootstrap and the swarm service:
 *  - Node: TCP and WebSocket listeners, the in-memory transport (tests), identity from a file, optionally a
 *    circuit-relay server for browsers;
 *  - browser: WebSockets, the circuit-relay transport and, where the page has RTCPeerConnection, WebRTC:
 *    tabs reserve a slot on a relay (the coordinator), and other tabs dial them through it; the relay
 *    only carries the SDP handshake, then the tabs talk over a direct data channel. Identity bytes come
 *    from the caller (e.g. IndexedDB).
 */
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { bootstrap } from '@libp2p/bootstrap';
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { gossipsub, type GossipSub } from '@libp2p/gossipsub';
import { identify, identifyPush, type Identify } from '@libp2p/identify';
import type { PrivateKey } from '@libp2p/interface';
import { memory } from '@libp2p/memory';
import { ping, type Ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { webSockets } from '@libp2p/websockets';
import { PROTOCOL_LIMITS } from '@slimswarm/protocol';
import { createLibp2p, type Libp2p, type Libp2pOptions } from 'libp2p';
import { parsePeerConfig, type PeerConfig, type PeerConfigInput } from './peer-config.js';
import { InvalidIdentityFileError, InvalidPeerConfigError } from './errors.js';
import { GraylistGuard, SCORE_THRESHOLDS, peerScoreParams } from './gossip-scoring.js';
import { GossipRejectTap } from './gossip-tap.js';
import { swarmService, type SwarmService } from './swarm-service.js';

/**
 * Reservations a relay server holds at once: every tab of the job keeps one on the coordinator so other
 * tabs can reach it by WebRTC (libp2p's default, 15, would leave later tabs undialable).
 */
const RELAY_RESERVATIONS = 256;

export interface SwarmServices {
  pubsub: GossipSub;
  identify: Identify;
  ping: Ping;
  swarm: SwarmService;
  [name: string]: unknown;
}

export type SwarmPeer = Libp2p<SwarmServices>;

function baseServices(config: PeerConfig) {
  const g = config.gossip;
  const rejectTap = new GossipRejectTap();
  const guard = new GraylistGuard(g.graylistBanMs);
  return {
    pubsub: gossipsub({
      D: g.D,
      Dlo: g.Dlo,
      Dhi: g.Dhi,
      heartbeatInterval: g.heartbeatIntervalMs,
      seenTTL: g.seenTtlMs,
      globalSignaturePolicy: 'StrictSign',
      allowPublishToZeroTopicPeers: true,
      ignoreDuplicatePublishError: true,
      emitSelf: false,
      maxInboundDataLength: PROTOCOL_LIMITS.maxGossipFrameBytes + 64 * 1024,
      // Job topics are scored from the moment the service subscribes to them (gossip-scoring.ts).
      scoreParams: peerScoreParams(guard, g.ipColocationFactorWeight),
      scoreThresholds: SCORE_THRESHOLDS,
      // Without a fast id every duplicate copy of a message is signature-checked again before the seen
      // cache is consulted; from + seqno is what the default message id uses under StrictSign anyway.
      fastMsgIdFn: (m) => (m.from && m.seqno ? hex(m.from) + hex(m.seqno) : ''),
      metricsRegister: rejectTap.register,
      metricsTopicStrToLabel: new Map(),
    }),
    identify: identify(),
    // Tells connected peers when our addresses change — a tab's relayed WebRTC address exists only once
    // its reservation is made, after the first identify — so the coordinator can list it to newcomers.
    identifyPush: identifyPush(),
    ping: ping(),
    swarm: swarmService({ role: config.role, timings: config.swarm, rejectTap, guard }),
  };
}

function hex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

function peerDiscovery(config: PeerConfig): Libp2pOptions['peerDiscovery'] {
  return config.bootstrap.length > 0 ? [bootstrap({ list: config.bootstrap, timeout: 100 })] : [];
}

/** What a peer's owner may plug into libp2p beside the config (objects, not data: no zod here). */
export interface PeerInstrumentation {
  /** libp2p's metrics hook: byte counts per connection and stream, gossipsub's own counters. */
  metrics?: Libp2pOptions['metrics'];
}

/** A Node peer (worker, coordinator, dashboard backend). Call `start()` is not needed: it starts. */
export async function createNodePeer(
  input: PeerConfigInput,
  instrumentation: PeerInstrumentation = {},
): Promise<SwarmPeer> {
  const config = parsePeerConfig(input);
  let privateKey: PrivateKey;
  if (config.identity.kind === 'file') {
    const { loadOrCreateIdentity } = await import('./identity.js');
    privateKey = await loadOrCreateIdentity(config.identity.path);
  } else privateKey = await keyFromConfig(config);
  const services = baseServices(config);
  return (await createLibp2p({
    privateKey,
    addresses: { listen: config.listen, announce: config.announce },
    transports: [tcp(), webSockets(), memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: peerDiscovery(config),
    connectionManager: { inboundConnectionThreshold: 100 },
    ...(instrumentation.metrics ? { metrics: instrumentation.metrics } : {}),
    // The relay server is an extra service the swarm never calls, hence the widening.
    services: (config.relayServer
      ? { ...services, relay: circuitRelayServer({ reservations: { maxReservations: RELAY_RESERVATIONS } }) }
      : services) as typeof services,
  })) as unknown as SwarmPeer;
}

/**
 * A browser peer: dials out over WebSockets, listens through circuit-relay reservations and, on a page
 * (RTCPeerConnection exists only on a window's thread, not in workers), accepts WebRTC from other tabs.
 */
export async function createBrowserPeer(input: PeerConfigInput): Promise<SwarmPeer> {
  const config = parsePeerConfig(input);
  if (config.identity.kind === 'file')
    throw new InvalidPeerConfigError('browsers keep their key as bytes, not a file');
  if (config.relayServer) throw new InvalidPeerConfigError('a browser cannot serve as a circuit relay');
  const transports: NonNullable<Libp2pOptions['transports']> = [webSockets(), circuitRelayTransport()];
  const listen = ['/p2p-circuit'];
  if (typeof (globalThis as { RTCPeerConnection?: unknown }).RTCPeerConnection === 'function') {
    // Imported here so that Node processes never load it (its Node side needs a native module).
    const { webRTC } = await import('@libp2p/webrtc');
    // Always explicit: left out, the transport falls back to public STUN servers.
    transports.push(webRTC({ rtcConfiguration: { iceServers: config.iceServers } }));
    listen.push('/webrtc');
  }
  return (await createLibp2p({
    privateKey: await keyFromConfig(config),
    addresses: {
      listen: config.listen.length > 0 ? config.listen : listen,
      announce: config.announce,
    },
    transports,
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: peerDiscovery(config),
    connectionGater: config.allowInsecureLocal ? { denyDialMultiaddr: () => false } : {},
    services: baseServices(config),
  })) as unknown as SwarmPeer;
}

/** A new peer identity as protobuf key bytes, for callers that store it themselves (a tab's IndexedDB). */
export async function newIdentityBytes(): Promise<Uint8Array> {
  return privateKeyToProtobuf(await generateKeyPair('Ed25519'));
}

async function keyFromConfig(config: PeerConfig): Promise<PrivateKey> {
  if (config.identity.kind !== 'bytes') return generateKeyPair('Ed25519');
  try {
    return privateKeyFromProtobuf(config.identity.privateKey);
  } catch (err) {
    throw new InvalidIdentityFileError(
      `identity bytes are not a libp2p private key: ${(err as Error).message}`,
    );
  }
}
