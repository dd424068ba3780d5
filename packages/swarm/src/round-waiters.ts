/**
 * What `nextRound()` waits for: the close of the round this peer's latest delta joined (which may be the
 * round after the one its steps started from), or any resync, which replaces the rounds it was waiting
 * for.
 */
export class RoundWaiters<S> {
  private waiters: ((s: S) => void)[] = [];
  /** Round of the latest contribution not yet followed by a wait that returned. */
  private contributedRound: number | null = null;

  contributed(round: number): void {
    this.contributedRound = round;
  }

  /**
   * Resolves with the next model: at once if the round of the latest contribution has closed already (a
   * lone or last contributor closes it while still publishing), else when `opened` releases it.
   */
  wait(round: number | null, current: () => S, signal?: AbortSignal): Promise<S> {
    const contributed = this.contributedRound;
    if (contributed !== null && round !== null && round > contributed) {
      this.contributedRound = null;
      return Promise.resolve(current());
    }
    return new Promise((resolve, reject) => {
      const done = (s: S) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(s);
      };
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(done);
    });
  }

  /** Round `round` opened, after a merge or a resync: releases the waits it ends. */
  opened(round: number, resynced: boolean, current: () => S): void {
    if (this.waiters.length === 0) return;
    // A delta that joined the next round waits for that round too.
    if (!resynced && this.contributedRound !== null && round <= this.contributedRound) return;
    const waiters = this.waiters;
    this.waiters = [];
    // These calls already waited for this change: a later wait must wait for the one after.
    this.contributedRound = null;
    const snapshot = current();
    for (const w of waiters) w(snapshot);
  }
}
