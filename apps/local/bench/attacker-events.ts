/** The JSON lines the live attacker (attacker.ts) prints, read back by attack-live.ts through this schema. */
import { z } from 'zod';

const Count = z.number().int().min(0);

export const AttackerEvent = z.discriminatedUnion('event', [
  /** Its code is loaded; it now waits for the coordinator to answer. */
  z.object({ event: z.literal('loaded') }),
  /** Connected to the listed peers, the verified base in hand; waiting for SIGUSR2 to join the round. */
  z.object({ event: z.literal('waiting'), peerId: z.string() }),
  /** Joined the swarm's rounds: its replica holds the shared model. */
  z.object({ event: z.literal('joined'), peerId: z.string(), round: Count, peers: Count }),
  /** Its delta went out for `round` (L2 norm of the vector it aimed for). */
  z.object({
    event: z.literal('contributed'),
    round: Count,
    baseRound: Count,
    norm: z.number().finite().min(0),
    wireBytes: Count,
    activeContributors: Count,
  }),
  /** Its own replica refused to send the delta (norm bound after the codec, stale base, …). */
  z.object({ event: z.literal('refused'), round: Count, reason: z.string() }),
  z.object({ event: z.literal('resync'), round: Count, reason: z.string() }),
  z.object({
    event: z.literal('stopped'),
    reason: z.string(),
    contributed: Count,
    refused: Count,
    round: Count,
  }),
  z.object({ event: z.literal('error'), name: z.string(), message: z.string() }),
]);
export type AttackerEvent = z.infer<typeof AttackerEvent>;
