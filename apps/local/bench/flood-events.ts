/** The JSON lines the flood attacker (flood-attacker.ts) prints, read back by flood-live.ts through this schema. */
import { z } from 'zod';

const Count = z.number().int().min(0);

export const FloodEvent = z.discriminatedUnion('event', [
  /** Its code is loaded; it now waits for the coordinator to answer. */
  z.object({ event: z.literal('loaded') }),
  /** Connected, its identities made; waiting for SIGUSR2 to start the flood. */
  z.object({ event: z.literal('waiting'), peerId: z.string(), honestPeers: Count }),
  /** The flood runs; `forged` names the model hashes it serves as forgeries (resync storms). */
  z.object({
    event: z.literal('started'),
    attack: z.string(),
    round: Count,
    sybils: Count,
    connections: Count,
    honestPeers: Count,
    /** Honest workers the attacker's node has a direct connection to (a weight sync needs one). */
    connectedHonest: Count,
    forged: z.array(z.string()),
  }),
  z.object({
    event: z.literal('stopped'),
    reason: z.string(),
    freshSybils: Count,
    messages: Count,
    bytesOut: Count,
    bytesIn: Count,
    streams: Count,
    streamFailures: Count,
  }),
  z.object({ event: z.literal('error'), name: z.string(), message: z.string() }),
]);
export type FloodEvent = z.infer<typeof FloodEvent>;
