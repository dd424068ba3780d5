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
