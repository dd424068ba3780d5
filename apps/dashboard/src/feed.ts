/**
 * The dashboard's network side: a passive browser peer (role `dashboard`; it never trains) that joins the
 * job's gossip topics, judges every frame with the swarm's observer verdict (the checks that need no
 * model), and feeds what it sees into a SwarmState. Heartbeats and deltas of peers without a valid admission
 * stamp are refused by that verdict, so only admitted peers are counted. In an open job it mints a stamp
 * of its own and announces itself with a heartbeat so other dashboards can draw it.
 */
import type { AdmissionStamp, JobManifest } from '@slimswarm/protocol';
import {
  JobListing,
  PROTOCOL_LIMITS,
  PROTOCOL_VERSION,
  encodeFrame,
  readBoundedJson,
  topics,
  verifySignedJob,
} from '@slimswarm/protocol';
import { AdmittedPeers, createBrowserPeer, observeJob, ownStamp, type SwarmPeer } from '@slimswarm/swarm';
import { z } from 'zod';
import { JobUnavailableError, NoBrowserAddressError } from './errors.js';
import { SwarmState } from './state.js';

/** The listing with the manifest of its signed job, verified. */
export async function fetchJobListing(origin: string): Promise<JobListing & { manifest: JobManifest }> {
  let body: unknown;
  try {
    const res = await fetch(new URL('/api/job', origin));
    if (!res.ok) throw new Error(`answered ${res.status}`);
    body = await readBoundedJson(res, PROTOCOL_LIMITS.maxApiJsonBytes, 'job listing');
  } catch (e) {
    throw new JobUnavailableError(`cannot load the job from ${origin}: ${(e as Error).message}`);
  }
  const parsed = JobListing.safeParse(body);
  if (!parsed.success) throw new JobUnavailableError(`invalid job listing: ${z.prettifyError(parsed.error)}`);
  try {
    return { ...parsed.data, manifest: verifySignedJob(parsed.data.job) };
  } catch (e) {
    throw new JobUnavailableError(`the job is not validly signed: ${(e as Error).message}`);
  }
}

/** Browsers dial only WebSocket addresses; anything else in the listing would just fail. */
export function browserDialable(addresses: readonly string[]): string[] {
  return addresses.filter((a) => /\/wss?(\/|$)/.test(a) || a.includes('/tls/ws'));
}

export interface FeedOptions {
  listing: JobListing & { manifest: JobManifest };
  /** Loopback or LAN use: allow ws:// and private addresses and drop IP-colocation scoring. */
  local: boolean;
  heartbeatIntervalMs?: number;
}

export class SwarmFeed {
  private readonly listeners = new Set<() => void>();
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  /** Minted after start in an open job; until then (and in an invite job) no heartbeat is sent. */
  private stamp: AdmissionStamp | null = null;

  private constructor(
    readonly peer: SwarmPeer,
    readonly manifest: JobManifest,
    readonly state: SwarmState,
    private readonly admitted: AdmittedPeers,
  ) {}

  static async connect(opts: FeedOptions): Promise<SwarmFeed> {
    const bootstrap = browserDialable(opts.listing.bootstrap);
    if (bootstrap.length === 0) {
      throw new NoBrowserAddressError(`no WebSocket address among ${opts.listing.bootstrap.join(', ')}`);
    }
    const peer = await createBrowserPeer({
      role: 'dashboard',
      bootstrap,
      allowInsecureLocal: opts.local,
      ...(opts.local ? { gossip: { ipColocationFactorWeight: 0 } } : {}),
    });
    const manifest = opts.listing.manifest;
    const admitted = new AdmittedPeers(manifest);
    const feed = new SwarmFeed(
      peer,
      manifest,
      new SwarmState(peer.peerId.toString(), manifest.round.peerTimeoutMs, (p) => admitted.isAdmitted(p)),
      admitted,
    );
    feed.state.assumeRole(opts.listing.coordinatorPeerId, 'coordinator');
    feed.start(opts.heartbeatIntervalMs ?? Math.max(1000, Math.floor(manifest.round.peerTimeoutMs / 3)));
    return feed;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.peer.stop();
  }

  private start(heartbeatIntervalMs: number): void {
    // The swarm's own verdict, as a passive observer (observer.ts): everything that needs no model,
    // signatures included. Refused messages are not forwarded; Rejects count against their sender.
    observeJob(
      this.peer.services.swarm,
      this.manifest,
      (msg, v) => {
        if (v.action === 'accept') {
          const m = v.frame.message;
          if (m.type === 'delta-announce') this.state.delta(msg.from, m, msg.data.length);
          else if (m.type === 'heartbeat') this.state.heartbeat(msg.from, m, msg.data.length, Date.now());
          else this.state.other(msg.data.length);
        } else this.state.reject(v.action === 'reject' ? msg.from : null, v.reason);
        this.changed();
      },
      this.admitted,
    );
    const events = this.peer.services.swarm.events;
    const refreshConnections = () => {
      this.state.connections(this.peer.getPeers().map((p) => p.toString()));
      this.changed();
    };
    events.on('peer:connect', refreshConnections);
    events.on('peer:disconnect', refreshConnections);
    this.timers.push(setInterval(() => void this.publishHeartbeat(), heartbeatIntervalMs));
    ownStamp(this.manifest, this.peer.peerId.toString()).then(
      (stamp) => (this.stamp = stamp),
      () => {}, // an invite job: the dashboard watches without announcing itself
    );
    refreshConnections();
  }

  private async publishHeartbeat(): Promise<void> {
    if (!this.stamp) return;
    const connected = this.peer.getPeers().map((p) => p.toString());
    const frame = encodeFrame({
      type: 'heartbeat',
      version: PROTOCOL_VERSION,
      jobId: this.manifest.jobId,
      role: 'dashboard',
      status: 'idle',
      round: 0,
      modelSha256: null,
      step: 0,
      tokensPerSec: 0,
      loss: null,
      memoryBytes: 0,
      connectedPeers: connected.slice(0, PROTOCOL_LIMITS.maxPeersListed),
      webRtcPeers: [],
      bytesIn: 0,
      bytesOut: 0,
      sentAt: Date.now(),
      admission: this.stamp,
    });
    // No subscriber yet is normal right after start; the next tick tries again.
    await this.peer.services.pubsub.publish(topics.heartbeat(this.manifest.jobId), frame).catch(() => {});
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}
