/**
 * Tokens per second, defined once. Every figure a volunteer shows — the step and round events the worker
 * prints and the tab draws, and the heartbeats the dashboard reads (replica.reportProgress) — is
 *
 *   tokens trained in the round's local steps / wall time of those local steps,
 *
 * where a local step's time runs from asking for its sequence to the end of its gradient step. Training
 * only: the wait for the round to close (the merge), pauses, evaluation and checkpoints are left out, so
 * a peer that waits for slower ones does not look slow itself. A step event shows the figure over the
 * round's local steps so far; the round event and the heartbeat show it over all of them.
 */
export class RoundThroughput {
  private tokenCount = 0;
  private elapsedMs = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Runs one local step, which resolves with what it trained, and counts its tokens and wall time. */
  async time<T extends { tokens: number }>(step: () => Promise<T>): Promise<T> {
    const started = this.now();
    const result = await step();
    this.add(result.tokens, this.now() - started);
    return result;
  }

  /** Counts a local step that trained `tokens` in `ms` milliseconds of wall time. */
  add(tokens: number, ms: number): void {
    this.tokenCount += tokens;
    this.elapsedMs += Math.max(0, ms);
  }

  /** Tokens trained in the steps counted so far. */
  get tokens(): number {
    return this.tokenCount;
  }

  /** Tokens per second over the steps counted so far; 0 before any time was counted. */
  get tokensPerSec(): number {
    return this.elapsedMs > 0 ? (this.tokenCount * 1000) / this.elapsedMs : 0;
  }
}
