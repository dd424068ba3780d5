/**
 * What the volunteer loop reports while it runs. The Node worker prints these as JSON lines (the local
 * swarm launcher and tests read them back through the same schema); the browser tab draws them. Metrics
 * only: no event ever carries text or token ids.
 */
import { z } from 'zod';

const Finite = z.number().finite();
const NonNeg = z.number().finite().min(0);
const Count = z.number().int().min(0);

export const VolunteerEvent = z.discriminatedUnion('event', [
  z.object({
    event: z.literal('ready'),
    peerId: z.string(),
    addresses: z.array(z.string()),
    params: Count,
    engine: z.string(),
    localSteps: Count,
    resumedFromStep: Count.nullable(),
    /** In a private job: ε already spent when this run starts (0 for a fresh volunteer). */
    epsilon: NonNeg.optional(),
  }),
  /** The volunteer holds model `modelSha256` of `round`: at the start, and again after every resync. */
  z.object({ event: z.literal('synced'), round: Count, modelSha256: z.string(), source: z.string() }),
  z.object({ event: z.literal('eval'), round: Count, heldOutLoss: Finite, modelSha256: z.string() }),
  z.object({
    event: z.literal('step'),
    round: Count,
    step: Count,
    localStep: Count,
    loss: Finite,
    gradNorm: NonNeg,
    /**
     * Tokens trained in this round's local steps so far / their wall time (training only, not the wait
     * for the merge: throughput.ts, the one definition).
     */
    tokensPerSec: NonNeg,
  }),
  z.object({
    event: z.literal('round'),
    /** The round the delta joined … */
    round: Count,
    /** … and the round whose model the local steps started from (earlier when the peer was slow). */
    baseRound: Count,
    meanLoss: Finite,
    tokens: Count,
    tokensTotal: Count,
    /**
     * Tokens trained in the round's local steps / their wall time, excluding the wait for the round to
     * close (throughput.ts): the figure the last step event showed and the heartbeats carry.
     */
    tokensPerSec: NonNeg,
    /** Local steps taken while the previous delta's round was open: on a model older than `baseRound`'s. */
    staleSteps: Count,
    accepted: Count,
    contributors: z.array(z.string()),
    peers: Count,
    modelSha256: z.string(),
    memoryBytes: Count,
    wireBytesOut: Count,
    /** Messages this peer refused so far, by reason (only reasons seen). */
    rejected: z.record(z.string(), Count),
    /** Times this peer replaced its model with its neighbours' so far. */
    resyncs: Count,
    /** In a private job: ε (at the job's δ) spent by this volunteer's releases so far, over all its runs. */
    epsilon: NonNeg.optional(),
    /** … and how many deltas it has published in the job (one release each). */
    privacyReleases: Count.optional(),
    /**
     * Wall time since the previous round event (or the start of the rounds), and how much of it went to
     * training steps, waiting for a round to close, evaluating and encoding checkpoints (phases.ts).
     */
    wallMs: NonNeg,
    phaseMs: z.object({ train: NonNeg, wait: NonNeg, evaluate: NonNeg, checkpoint: NonNeg }).strict(),
  }),
  /**
   * What local PII scrubbing replaced in the volunteer's text before tokenising (so far, or in all of it
   * once `complete`): for the volunteer's own display only — no heartbeat or message carries it.
   */
  z.object({
    event: z.literal('scrubbed'),
    counts: z.object({ email: Count, card: Count, phone: Count, ip: Count, secret: Count }).strict(),
    complete: z.boolean(),
  }),
  z.object({ event: z.literal('checkpoint'), path: z.string(), step: Count, round: Count }),
  z.object({ event: z.literal('stopped'), reason: z.string(), round: Count, step: Count }),
  z.object({ event: z.literal('error'), name: z.string(), message: z.string() }),
]);
export type VolunteerEvent = z.infer<typeof VolunteerEvent>;
export type VolunteerEventOf<E extends VolunteerEvent['event']> = Extract<VolunteerEvent, { event: E }>;
