/**
 * Where a volunteer's wall time goes, split into what it spent in the gradient engine (training steps,
 * evaluation) and what it spent not computing (waiting for a round to close, writing a checkpoint). The
 * round event carries one interval's split, so the swarm's efficiency (apps/local/src/efficiency.ts) is
 * read from what every volunteer reports rather than guessed from outside.
 */
export const PHASES = ['train', 'wait', 'evaluate', 'checkpoint'] as const;
export type Phase = (typeof PHASES)[number];
export type PhaseMs = Record<Phase, number>;

export class PhaseClock {
  private split: PhaseMs = zeroSplit();
  private intervalStart: number;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.intervalStart = now();
  }

  /** Runs `work` and counts its wall time under `phase`. */
  async time<T>(phase: Phase, work: () => Promise<T>): Promise<T> {
    const started = this.now();
    try {
      return await work();
    } finally {
      this.split[phase] += Math.max(0, this.now() - started);
    }
  }

  /** Runs synchronous `work` and counts its wall time under `phase`. */
  measure<T>(phase: Phase, work: () => T): T {
    const started = this.now();
    try {
      return work();
    } finally {
      this.split[phase] += Math.max(0, this.now() - started);
    }
  }

  /** Ends the interval: its wall time and split (the rest of the wall time went to none of the phases). */
  lap(): { wallMs: number; phaseMs: PhaseMs } {
    const end = this.now();
    const lap = { wallMs: Math.max(0, end - this.intervalStart), phaseMs: this.split };
    this.intervalStart = end;
    this.split = zeroSplit();
    return lap;
  }
}

function zeroSplit(): PhaseMs {
  return { train: 0, wait: 0, evaluate: 0, checkpoint: 0 };
}
