/**
 * What a private job's releases have cost this peer so far. Each delta it publishes is one release of
 * the Gaussian mechanism on its whole local data of the round — no subsampling: every round uses all of
 * the volunteer's data, so the sample rate is 1 — and the releases compose (RDP, packages/privacy). The
 * count is the volunteer's to keep across runs (its store), or a reload would report a fresh ε.
 */
import { RdpAccountant } from '@slimswarm/privacy';
import type { PrivacyConfig } from '@slimswarm/protocol';

export interface PrivacySpent {
  /** Deltas this volunteer published in the job, over all its runs. */
  releases: number;
  /** ε at the job's δ: 0 before the first release. */
  epsilon: number;
  delta: number;
}

export class PrivacyBudget {
  /** Throws InvalidPrivacyParameterError (packages/privacy) unless `count` is a non-negative integer. */
  constructor(
    private readonly privacy: PrivacyConfig,
    private count = 0,
  ) {
    this.spent();
  }

  /** One more delta left this peer. */
  released(): void {
    this.count++;
  }

  spent(): PrivacySpent {
    const { noiseMultiplier, delta } = this.privacy;
    const { epsilon } = new RdpAccountant()
      .compose({ noiseMultiplier, sampleRate: 1 }, this.count)
      .spent(delta);
    return { releases: this.count, epsilon, delta };
  }
}
