/**
 * The verdict of a passive observer: a peer that forwards the job's gossip without a model (the
 * coordinator, the dashboard). It runs every check of the delta verdict that needs no round state —
 * the frame, the header against the manifest, the author's signature and, for a delta whose payload is
 * all in this one frame, the payload itself (digest, codec shape, finite, norm bound) — and never
 * merges anything. What it refuses is not forwarded, and a Reject counts against the sender's score.
 *
 * Checking the payload matters once Rejects are scored: a replica Rejects a bad payload, and gossipsub
 * blames the peer that delivered it, so an observer that forwarded every well-signed delta would be
 * graylisted by the replicas for what its attackers sent. The payload's size comes from the manifest
 * alone (trainableParamCount: the base's parameters, or a LoRA job's adapters), so an observer judges it
 * exactly as a replica does. Multi-part payloads and what depends on the round state (replays,
 * equivocation, rounds, bases) stay the replicas' to judge. Heartbeats, summaries and deltas whose stamp
 * does not admit their sender are refused too, so an observer counts (and forwards) only admitted peers.
 */
import { topics, type DecodedFrame, type JobManifest, type Message } from '@slimswarm/protocol';
import { AdmittedPeers, type AdmissionCheck } from './admission.js';
import { checkDelta, checkPayload, decodeJobFrame, rejected, type Refusal } from './delta-verdict.js';
import { checkEvidence } from './equivocation.js';
import type { GossipIn, GossipVerdict, SwarmNetwork } from './network.js';

export type ObserverVerdict = { action: 'accept'; frame: DecodedFrame } | Refusal;

/** Judges one gossip message expected to be a `type` frame of `manifest`'s job. */
export function observerVerdict(
  msg: GossipIn,
  manifest: JobManifest,
  type: Message['type'],
  admission: AdmissionCheck,
): ObserverVerdict {
  const decoded = decodeJobFrame(msg.data, manifest, type);
  if (!('frame' in decoded)) return decoded;
  const frame = decoded.frame;
  if (frame.message.type === 'equivocation-evidence') {
    // Both signatures are checked here too, so an observer relays only proofs (a coordinator may be the
    // one link between two groups of peers) and blames forged ones on their sender.
    return checkEvidence(frame.message, manifest) ?? { action: 'accept', frame };
  }
  if (frame.message.type === 'heartbeat' || frame.message.type === 'anti-entropy-summary') {
    return admission.admits(msg.from, frame.message.admission)
      ? { action: 'accept', frame }
      : rejected('not-admitted');
  }
  if (frame.message.type !== 'delta-announce') return { action: 'accept', frame };
  const v = checkDelta(frame, msg.from, { manifest, admission, rounds: null });
  if (v.action !== 'accept') return v;
  if (v.header.part.count === 1) {
    const p = checkPayload(v.header, v.part, manifest);
    if (p.action !== 'accept') return p;
  }
  return { action: 'accept', frame };
}

/** The message type carried by each of a job's gossip topics. */
export function jobTopics(jobId: string): Record<string, Message['type']> {
  return {
    [topics.deltas(jobId)]: 'delta-announce',
    [topics.heartbeat(jobId)]: 'heartbeat',
    [topics.summaries(jobId)]: 'anti-entropy-summary',
    [topics.evidence(jobId)]: 'equivocation-evidence',
  };
}

/**
 * Subscribes `net` to the job's four topics as a passive observer: every message is judged by
 * observerVerdict before gossipsub forwards it; `onVerdict` sees each one (accepted with its frame).
 * `admitted` remembers who showed a valid stamp (the coordinator lists only those). Returns a function
 * that unsubscribes.
 */
export function observeJob(
  net: Pick<SwarmNetwork, 'subscribe' | 'unsubscribe'>,
  manifest: JobManifest,
  onVerdict: (msg: GossipIn, verdict: ObserverVerdict) => void = () => {},
  admitted: AdmittedPeers = new AdmittedPeers(manifest),
): () => void {
  const watched = jobTopics(manifest.jobId);
  for (const [topic, type] of Object.entries(watched)) {
    net.subscribe(topic, (msg): GossipVerdict => {
      const v = observerVerdict(msg, manifest, type, admitted);
      onVerdict(msg, v);
      return v.action === 'accept' ? { action: 'accept' } : v;
    });
  }
  return () => {
    for (const topic of Object.keys(watched)) net.unsubscribe(topic);
  };
}
