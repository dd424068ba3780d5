/**
 * Where a volunteer keeps its local state between runs: the trainer checkpoint (weights it last trained,
 * AdamW moments, step) and a small record of which job and round it belongs to. The Node worker keeps
 * them in files written atomically, the browser tab in IndexedDB; the loop only sees this interface.
 */
import { z } from 'zod';
import { JobId, Round, Sha256Hex } from '@slimswarm/protocol';

export const VolunteerState = z
  .object({
    jobId: JobId,
    /** The shared round the checkpoint's local steps started from. */
    round: Round,
    modelSha256: Sha256Hex,
    tokensTotal: z.number().int().min(0),
    /**
     * In a private job: the deltas this volunteer published so far, so a reload does not reset its ε.
     * Saved with every checkpoint; states saved before privacy existed read as 0.
     */
    privacyReleases: z.number().int().min(0).default(0),
    savedAt: z.number().int().min(0),
  })
  .strict();
export type VolunteerState = z.infer<typeof VolunteerState>;

export interface SavedVolunteer {
  /** performer's encodeCheckpoint bytes. */
  checkpoint: Uint8Array;
  state: VolunteerState;
}

export interface VolunteerStore {
  /** Null when nothing was saved yet. Throws a typed error when what is there cannot be read. */
  load(): Promise<SavedVolunteer | null>;
  /** Replaces what was saved, all or nothing. Returns where it went (for the user). */
  save(saved: SavedVolunteer): Promise<string>;
}
