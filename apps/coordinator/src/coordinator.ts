/**
 * The coordinator publishes a job and helps peers meet: bootstrap peer, circuit relay and WebSocket
 * endpoint for browsers, and a static file server for the volunteer page and the dashboard. It runs no
 * model compute — it never loads the model into an engine, never trains, never aggregates — it only
 * forwards the job's gossip like any router of the mesh, so once peers have met they keep training
 * without it.
 */
import { topics, type JobListing, type JobManifest } from '@slimswarm/protocol';
import { createNodePeer, observeJob, type SwarmPeer } from '@slimswarm/swarm';
import { logger } from '@libp2p/logger';
import { bootstrapListing, type ConnectedPeer } from './bootstrap-list.js';
import { startHttp, type HttpService } from './http.js';
import { ephemeralJobKey, loadOrCreateJobKey } from './job-key.js';
import { loadJob } from './published-job.js';
import { InviteCodes, answerTicketRequest } from './tickets.js';
import { privacyOf, type CoordinatorOptions } from './options.js';
import type { CoordinatorStats } from './events.js';

const log = logger('slimswarm:coordinator');

export interface Coordinator {
  manifest: JobManifest;
  peer: SwarmPeer;
  http: HttpService;
  /** Addresses of this node, with /p2p/<id>. */
  multiaddrs(): string[];
  stop(): Promise<void>;
}

const JSON_TYPE = 'application/json; charset=utf-8';

export async function startCoordinator(options: CoordinatorOptions): Promise<Coordinator> {
  const key = options.jobKey !== undefined ? await loadOrCreateJobKey(options.jobKey) : ephemeralJobKey();
  const invites = options.inviteCodes !== undefined ? await InviteCodes.load(options.inviteCodes) : null;
  const job = await loadJob({
    basePath: options.base,
    key,
    ...(options.manifest !== undefined ? { manifestPath: options.manifest } : {}),
    ...(options.model !== undefined
      ? {
          model: {
            dir: options.model,
            nFeatures: options.features,
            seqLen: options.seqLen,
            chunkSize: options.chunkSize,
            localSteps: options.localSteps,
            seed: options.seed,
            lr: options.lr,
            lora: options.lora,
          },
        }
      : {}),
    tokenizer: {
      ...(options.tokenizer !== undefined ? { tokenizer: options.tokenizer } : {}),
      ...(options.tokenizerConfig !== undefined ? { config: options.tokenizerConfig } : {}),
    },
    admission: invites ? { mode: 'invite' } : { mode: 'open', difficultyBits: options.difficulty },
    privacy: privacyOf(options),
  });
  const peer = await createNodePeer({
    role: 'coordinator',
    listen: options.listen,
    relayServer: true,
    gossip: { ipColocationFactorWeight: 0 },
  });
  // Subscribing makes this node part of the job's gossip mesh (it forwards, it does not merge), so the
  // first peers reach each other through it before they have dialled one another. It judges what it
  // forwards like any peer without a model (observer.ts: frames, headers, signatures, one-part payloads):
  // what it refuses goes no further, and a Reject counts against the sender's gossip score.
  observeJob(peer.services.swarm, job.manifest);
  const jobTopics = {
    deltas: topics.deltas(job.manifest.jobId),
    heartbeats: topics.heartbeat(job.manifest.jobId),
    summaries: topics.summaries(job.manifest.jobId),
  } as const;
  const relayed = { deltas: 0, heartbeats: 0, summaries: 0, bytes: 0 };
  peer.services.pubsub.addEventListener('message', (e) => {
    const kind = (Object.keys(jobTopics) as (keyof typeof jobTopics)[]).find(
      (k) => jobTopics[k] === e.detail.topic,
    );
    if (kind === undefined) return;
    relayed[kind]++;
    relayed.bytes += e.detail.data.byteLength;
  });
  const multiaddrs = (): string[] => peer.getMultiaddrs().map((a) => a.toString());

  const relay = peer.services.relay as { reservations?: { has(p: unknown): boolean } } | undefined;
  /**
   * Our addresses first, then the connected peers' addresses that check out against their connections
   * (bootstrap-list.ts). Of relayed addresses only tabs' WebRTC ones are listed: a plain relayed
   * connection is too limited to carry gossip, while a tab dialling another tab's `/p2p-circuit/webrtc`
   * address only uses the relay for the handshake and then talks to it directly.
   */
  const bootstrapList = async (): Promise<string[]> => {
    const byPeer = new Map<string, ConnectedPeer>();
    for (const c of peer.getConnections()) {
      const id = c.remotePeer.toString();
      let p = byPeer.get(id);
      if (!p) {
        const known = await peer.peerStore.get(c.remotePeer).catch(() => null);
        const announced = (known?.addresses ?? []).map((a) => a.multiaddr.toString());
        const reserved = relay?.reservations?.has(c.remotePeer) === true;
        byPeer.set(id, (p = { peer: id, since: c.timeline.open, observed: [], announced, reserved }));
      }
      p.since = Math.min(p.since, c.timeline.open);
      const observed = c.remoteAddr.toString();
      if (!observed.includes('/p2p-circuit')) p.observed.push(observed);
    }
    return bootstrapListing([...byPeer.values()], { own: multiaddrs(), perPrefix: options.listPerPrefix });
  };

  const http = await startHttp({
    host: options.host,
    port: options.port,
    mounts: { '/': options.webDir, '/dashboard/': options.dashboardDir },
    routes: {
      '/api/job': async () => ({
        body: JSON.stringify({
          job: job.signed,
          coordinatorPeerId: peer.peerId.toString(),
          bootstrap: await bootstrapList(),
          iceServers: options.iceServers,
        } satisfies JobListing),
        contentType: JSON_TYPE,
      }),
      '/api/base': () => ({ body: job.base, contentType: 'application/octet-stream' }),
      // Named by content, so a cache may keep them for good.
      ...Object.fromEntries(
        [...job.tokenizerFiles].map(([sha256, body]) => [
          `/api/tokenizer/${sha256}`,
          () => ({ body, contentType: JSON_TYPE, immutable: true }),
        ]),
      ),
      '/api/stats': () => {
        const { accepted, roundsClosed, resyncs } = peer.services.swarm.stats();
        const stats: CoordinatorStats = {
          relayed: { ...relayed },
          swarm: { accepted, roundsClosed, resyncs },
          connections: peer.getConnections().length,
        };
        return { body: JSON.stringify(stats), contentType: JSON_TYPE };
      },
    },
    posts: {
      '/api/ticket': async (body) => {
        const answer = await answerTicketRequest(body, job.manifest, key, invites);
        const reply = answer.status === 200 ? answer.grant : { error: answer.error };
        return { status: answer.status, body: JSON.stringify(reply), contentType: JSON_TYPE };
      },
    },
  });
  log('job %s published at %s', job.manifest.jobId, http.url);
  return {
    manifest: job.manifest,
    peer,
    http,
    multiaddrs,
    async stop() {
      await http.close();
      await peer.stop();
    },
  };
}
