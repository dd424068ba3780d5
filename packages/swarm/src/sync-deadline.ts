/**
 * The time limits of one weight sync. Every frame must move within `frameMs`, so a stalled peer is dropped
 * as fast as before; the whole sync must end within frameMs plus frameMs / RECORDS_PER_FRAME_TIME for each
 * record it carries. One deadline for the whole exchange cut off honest syncs: a joiner replays every
 * record as it arrives (signatures, decode, merge, hash), and on a slow machine a long history took longer
 * than one stream timeout to replay, so a late joiner could never catch up. A peer that drips a long
 * history slowly still cannot hold a joiner for longer than the history's budget.
 */

/** Records a sync may carry, on average, per frame timeout. */
export const RECORDS_PER_FRAME_TIME = 4;

export class SyncDeadline {
  private readonly startedAt = Date.now();
  private total: AbortSignal;

  constructor(private readonly frameMs: number) {
    this.total = AbortSignal.timeout(frameMs);
  }

  /** Sets the whole sync's budget from the records it carries (counted from the start of the sync). */
  carry(records: number): void {
    const budget = this.frameMs * (1 + records / RECORDS_PER_FRAME_TIME);
    this.total = AbortSignal.timeout(Math.max(0, this.startedAt + budget - Date.now()));
  }

  /** The signal for the next frame read or written: its own timeout, and the whole sync's. */
  next(): AbortSignal {
    return AbortSignal.any([this.total, AbortSignal.timeout(this.frameMs)]);
  }
}
