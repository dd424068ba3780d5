/** What the coordinator prints on stdout with --json, one object per line (read back by launchers). */
import { z } from 'zod';

export const CoordinatorEvent = z.discriminatedUnion('event', [
  z.object({
    event: z.literal('listening'),
    http: z.string(),
    peerId: z.string(),
    multiaddrs: z.array(z.string()),
    jobId: z.string(),
    baseSha256: z.string(),
  }),
  z.object({ event: z.literal('peers'), connected: z.number().int().min(0) }),
  z.object({ event: z.literal('stopped'), reason: z.string() }),
]);
export type CoordinatorEvent = z.infer<typeof CoordinatorEvent>;

/**
 * GET /api/stats: what the coordinator did. It relays the job's gossip like any router of the mesh; the
 * swarm counters (merges, accepted deltas, resyncs) stay at zero because it holds no replica.
 */
export const CoordinatorStats = z
  .object({
    /** Gossip messages of this job seen (and forwarded), per topic kind, with their bytes. */
    relayed: z.object({
      deltas: z.number().int().min(0),
      heartbeats: z.number().int().min(0),
      summaries: z.number().int().min(0),
      bytes: z.number().int().min(0),
    }),
    swarm: z.object({
      accepted: z.number().int().min(0),
      roundsClosed: z.number().int().min(0),
      resyncs: z.number().int().min(0),
    }),
    connections: z.number().int().min(0),
  })
  .strict();
export type CoordinatorStats = z.infer<typeof CoordinatorStats>;
