/**
 * The one delta verdict. Every delta a peer meets — a gossip part, a payload pulled over anti-entropy, a
 * frame the dashboard watches — goes through these functions and nothing else decides whether it is
 * accepted, ignored or blamed on its sender:
 *
 *   decodeJobFrame(bytes, manifest, …)   the frame itself (size, job, version, schema, tensor limits)
 *   checkDelta(frame, author, context)   one part's header against the job and the round state
 *   checkPayload(header, payload, …)     the reassembled payload (digest, codec, finite, norm bound)
 *
 * Checks run cheapest first; the signature (≈5 ms) only after everything that needs no cryptography.
 * The author's admission stamp is checked with the cheap checks when it is a proof of work (one SHA-256),
 * just before the signature when it is a ticket (an Ed25519 verify, once per author: admission.ts).
 */
import {
  PROTOCOL_LIMITS,
  decodeFrame,
  deltaSigningBytes,
  isProtocolError,
  limitsFromManifest,
  maxDeltaPayloadBytes,
  partRange,
  trainableParamCount,
  type DecodedFrame,
  type DeltaAnnouncement,
  type JobManifest,
  type Message,
  type ProtocolErrorName,
  type Tensor,
} from '@slimswarm/protocol';
import type { AdmissionCheck } from './admission.js';
import { decodeDelta, deltaShapeOf } from './codec.js';
import { DeltaDecodeError } from './errors.js';
import { allFinite, l2Norm } from './model-layout.js';
import { verifyDeltaAuthor } from './signature.js';
import { decodeDeltaPayload, sha256Hex } from './wire.js';

/** Why a message was turned down. Every reason has its own counter in the stats. */
export const REJECT_REASONS = [
  'malformed',
  'oversize',
  'wrong-job',
  'wrong-codec',
  'wrong-round',
  'unknown-base',
  'non-finite',
  'norm-bound',
  'replay',
  'equivocation',
  'bad-digest',
  /** A gossip part (or a slice of a pulled payload) does not hash to the digest its header signs for it. */
  'bad-part-digest',
  /** The author's signature does not verify (or gossipsub's StrictSign refused the message first). */
  'bad-signature',
  /** The author signed two different deltas for one round (equivocation.ts): ignored for the rest of the job. */
  'banned',
  /** The sender's admission stamp does not admit its peer id to the job (admission.ts). */
  'not-admitted',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/**
 * What every honest peer checks before it forwards a gossip message — the frame, the job, the codec, the
 * author's signature. Everything else depends on the judge's round state or history (replay, rounds,
 * bases, bans) or on parts not yet received (digest, payload, norm): an honest forwarder may have let it
 * through, so only the author is blamed for those.
 */
const FORWARDER_CHECKS: ReadonlySet<RejectReason> = new Set([
  'malformed',
  'oversize',
  'wrong-job',
  'wrong-codec',
  'bad-part-digest',
  'bad-signature',
  'not-admitted',
]);

export function forwarderChecks(reason: RejectReason): boolean {
  return FORWARDER_CHECKS.has(reason);
}

/** Reasons to drop a message without blaming the sender (honest peers can cause them). */
export const IGNORE_REASONS = [
  'late',
  'newer-version',
  'duplicate',
  /** This peer has no model yet or is replacing it (joining, resyncing): it cannot judge deltas. */
  'not-ready',
  /** A partly received delta made room for newer parts (partials.ts); its author is not at fault. */
  'evicted',
  /** This peer serves or runs as many pulls as it allows at once (anti-entropy.ts). */
  'busy',
] as const;
export type IgnoreReason = (typeof IGNORE_REASONS)[number];

export type Refusal = { action: 'reject'; reason: RejectReason } | { action: 'ignore'; reason: IgnoreReason };

export function rejected(reason: RejectReason): Refusal {
  return { action: 'reject', reason };
}

export function ignored(reason: IgnoreReason): Refusal {
  return { action: 'ignore', reason };
}

/** How each protocol decode failure is judged: a newer protocol version is ignored, not blamed. */
const DECODE_VERDICTS: Record<ProtocolErrorName, Refusal | ((err: { newer?: boolean }) => Refusal)> = {
  TruncatedFrameError: rejected('malformed'),
  TruncatedError: rejected('malformed'),
  FrameTooLargeError: rejected('oversize'),
  LimitExceededError: rejected('oversize'),
  BadMagicError: rejected('malformed'),
  UnsupportedVersionError: (err) => (err.newer ? ignored('newer-version') : rejected('malformed')),
  WrongJobError: rejected('wrong-job'),
  SchemaViolationError: rejected('malformed'),
  NonCanonicalError: rejected('malformed'),
  NonFiniteTensorError: rejected('non-finite'),
  TensorBoundsError: rejected('malformed'),
  SafetensorsFormatError: rejected('malformed'),
  DTypeMismatchError: rejected('malformed'),
  // Not decode failures (signed jobs and HTTP bodies are checked over HTTP, not in frames): listed for
  // completeness.
  JobSignatureError: rejected('malformed'),
  JobKeyMismatchError: rejected('wrong-job'),
  BodyTooLargeError: rejected('oversize'),
};

/** Maps a decode failure to a verdict; anything that is not a protocol error is malformed input. */
export function verdictOfDecodeError(err: unknown): Refusal {
  if (!isProtocolError(err)) return rejected('malformed');
  const v = DECODE_VERDICTS[err.name];
  return typeof v === 'function' ? v(err as { newer?: boolean }) : v;
}

/**
 * Decodes a frame of this job that must be a `type` message (or one of `type`). Gossip frames are bounded by the gossip
 * limit, frames read from streams by `maxBytes`.
 */
export function decodeJobFrame(
  bytes: Uint8Array,
  manifest: JobManifest,
  type: Message['type'] | readonly Message['type'][],
  maxBytes: number = PROTOCOL_LIMITS.maxGossipFrameBytes,
): { frame: DecodedFrame } | Refusal {
  const types: readonly string[] = typeof type === 'string' ? [type] : type;
  let frame: DecodedFrame;
  try {
    frame = decodeFrame(bytes, {
      maxBytes,
      jobId: manifest.jobId,
      // Only delta parts are bounded by the delta payload; a weight-sync body holds the whole model twice.
      ...(types.includes('delta-announce') ? { limits: limitsFromManifest(manifest) } : {}),
    });
  } catch (err) {
    return verdictOfDecodeError(err);
  }
  return types.includes(frame.message.type) ? { frame } : rejected('malformed');
}

/** The one u8 tensor named `name` a frame must carry (and nothing else), or null. */
export function singleU8(tensors: Record<string, Tensor>, name: string): Uint8Array | null {
  const names = Object.keys(tensors);
  const t = tensors[name];
  if (names.length !== 1 || !t || t.dtype !== 'u8' || t.shape.length !== 1) return null;
  return t.data;
}

/**
 * What an author already has in the open rounds — a complete delta, or the parts received so far — or had
 * merged in the round closed last.
 */
export interface HeldFromAuthor {
  header: DeltaAnnouncement;
  complete: boolean;
  hasPart(index: number): boolean;
}

/** What the verdict needs to know of a peer's round state (RoundState implements it). */
export interface RoundView {
  readonly round: number;
  /** Whether the author was proved to equivocate: nothing of it is taken for the rest of the job. */
  isBanned(author: string): boolean;
  /** Highest round this author had a delta or part accepted for: an earlier one is a replay. */
  lastRoundOf(author: string): number | undefined;
  heldFrom(author: string, round: number): HeldFromAuthor | undefined;
  /** Whether `sha` is this peer's model of `round` (current, or within `maxStaleness`). */
  knowsBase(round: number, sha: string): boolean;
}

export interface DeltaContext {
  manifest: JobManifest;
  /** Whose stamps admit them (shared, so each author's ticket is verified once). */
  admission: AdmissionCheck;
  /** Null for a passive observer (the dashboard): only what needs no model state is checked. */
  rounds: RoundView | null;
}

export type DeltaCheck = { action: 'accept'; header: DeltaAnnouncement; part: Uint8Array } | Refusal;

/**
 * Judges one part of a delta `author` made. Accept means: take this part (the payload is judged by
 * checkPayload once every part is in).
 */
export function checkDelta(frame: DecodedFrame, author: string, ctx: DeltaContext): DeltaCheck {
  const h = frame.message;
  const part = singleU8(frame.tensors, 'part');
  if (h.type !== 'delta-announce' || !part) return rejected('malformed');
  const m = ctx.manifest;
  if (h.jobId !== m.jobId) return rejected('wrong-job');
  if (h.codec !== m.compression.codec) return rejected('wrong-codec');
  // Before any part is held: a payload sized for the base cannot pass as a LoRA job's adapters.
  if (h.payloadBytes > maxDeltaPayloadBytes(trainableParamCount(m))) return rejected('oversize');
  const { start, end } = partRange(h.payloadBytes, h.part.count, h.part.index);
  const slices = h.partDigests.length;
  // Every signed slice holds at least one byte, and this frame holds exactly its own.
  if (partRange(h.payloadBytes, slices, slices - 1).start >= h.payloadBytes || part.length !== end - start)
    return rejected('malformed');
  if (h.admission.kind === 'pow' && !ctx.admission.admits(author, h.admission))
    return rejected('not-admitted');
  /** Admission (a ticket's signature, once per author), then the author's signature on this header. */
  const authentic = (): Refusal | null =>
    !ctx.admission.admits(author, h.admission)
      ? rejected('not-admitted')
      : verifyDeltaAuthor(author, h)
        ? null
        : rejected('bad-signature');

  const r = ctx.rounds;
  if (!r) {
    if (!matchesPartDigests(h, part)) return rejected('bad-part-digest');
    return authentic() ?? { action: 'accept', header: h, part };
  }
  if (r.isBanned(author)) return rejected('banned');
  const last = r.lastRoundOf(author);
  if (last !== undefined && h.round < last) return rejected('replay');
  if (h.round < r.round) {
    // Late for its round, unless it contradicts the delta this peer merged there: that proves equivocation.
    const merged = r.heldFrom(author, h.round);
    if (!merged || merged.header.payloadSha256 === h.payloadSha256) return ignored('late');
    return authentic() ?? rejected('equivocation');
  }
  if (h.round > r.round + 1) return rejected('wrong-round');
  const held = r.heldFrom(author, h.round);
  // A header identical to one already verified needs no second signature check: the signature is checked
  // once per delta, not once per part (and pulls race the gossip).
  const verified = held !== undefined && sameSignedHeader(held.header, h);
  const seen = held && (held.complete || held.hasPart(h.part.index));
  if (seen && verified) return ignored('duplicate');
  if (!matchesPartDigests(h, part)) return rejected('bad-part-digest');
  if (!verified) {
    const refused = authentic();
    if (refused) return refused;
  }
  if (held) {
    // Two signed payloads for one round: the author equivocates (both headers are the proof, §6a).
    if (held.header.payloadSha256 !== h.payloadSha256) return rejected('equivocation');
    // Parts of the same payload under another signed header do not fit those held; a whole payload (a
    // pull) replaces parts still missing.
    if (seen || (!verified && h.part.count !== 1)) return ignored('duplicate');
  }
  // Deltas for the next round are held until this round closes and their base becomes known.
  if (h.round === r.round && !r.knowsBase(h.baseRound, h.baseModelSha256)) return rejected('unknown-base');
  return { action: 'accept', header: h, part };
}

/** Whether `b` carries the very signature over the very fields already verified on `a`. */
function sameSignedHeader(a: DeltaAnnouncement, b: DeltaAnnouncement): boolean {
  if (a.authorSignature !== b.authorSignature) return false;
  const [x, y] = [deltaSigningBytes(a), deltaSigningBytes(b)];
  return x.length === y.length && x.every((byte, i) => byte === y[i]);
}

/**
 * Whether the frame's bytes are what the author signed for them: one gossip slice against its digest, or
 * a whole payload (a pull) slice by slice as its author cut it. Hashing is cheap next to the signature,
 * and a part that fails is never held nor forwarded.
 */
function matchesPartDigests(h: DeltaAnnouncement, part: Uint8Array): boolean {
  const slices = h.partDigests.length;
  if (h.part.count === slices) return sha256Hex(part) === h.partDigests[h.part.index];
  return h.partDigests.every((digest, i) => {
    const { start, end } = partRange(h.payloadBytes, slices, i);
    return sha256Hex(part.subarray(start, end)) === digest;
  });
}

/**
 * Judges a reassembled payload; accept carries the decoded delta of the job's P values
 * (trainableParamCount: the base's, or a LoRA job's adapters), the same for a replica and an observer.
 */
export function checkPayload(
  header: Pick<DeltaAnnouncement, 'payloadSha256' | 'codec'>,
  payload: Uint8Array,
  manifest: JobManifest,
): { action: 'accept'; delta: Float32Array } | Refusal {
  if (sha256Hex(payload) !== header.payloadSha256) return rejected('bad-digest');
  let delta: Float32Array;
  try {
    delta = decodeDelta(header.codec, decodeDeltaPayload(payload), deltaShapeOf(manifest));
  } catch (err) {
    // The payload's size was bounded already: inside it any container fault is malformed.
    if (isProtocolError(err) && err.name === 'NonFiniteTensorError') return rejected('non-finite');
    if (isProtocolError(err) || err instanceof DeltaDecodeError) return rejected('malformed');
    throw err;
  }
  if (!allFinite(delta)) return rejected('non-finite');
  if (l2Norm(delta) > manifest.aggregation.normBound) return rejected('norm-bound');
  return { action: 'accept', delta };
}
