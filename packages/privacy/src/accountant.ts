/**
 * The privacy spent by one volunteer: every round its delta is clipped and noised (a Gaussian mechanism
 * on its whole local dataset — user-level), and rounds compose by adding RDP order by order. The figure a
 * peer reports (heartbeat, its own page) is `spent(δ)`.
 */
import { rdpToDp, type DpGuarantee } from './conversion.js';
import { InvalidPrivacyParameterError } from './errors.js';
import { DEFAULT_ORDERS, checkMechanism, gaussianRdp, type GaussianMechanism } from './rdp.js';

export class RdpAccountant {
  private readonly orders: readonly number[];
  /** [orders] RDP spent so far at each order. */
  private readonly total: Float64Array;
  private steps = 0;

  constructor(orders: readonly number[] = DEFAULT_ORDERS) {
    if (orders.length === 0)
      throw new InvalidPrivacyParameterError('the accountant needs at least one order');
    this.orders = [...orders];
    this.total = new Float64Array(orders.length);
  }

  /** Records `count` releases of `mechanism` (count ≥ 0, an integer). */
  compose(mechanism: GaussianMechanism, count = 1): this {
    checkMechanism(mechanism);
    if (!(Number.isInteger(count) && count >= 0)) {
      throw new InvalidPrivacyParameterError(`release count must be a non-negative integer, got ${count}`);
    }
    this.orders.forEach((alpha, i) => (this.total[i]! += count * gaussianRdp(mechanism, alpha)));
    this.steps += count;
    return this;
  }

  /** Releases recorded so far. */
  get releases(): number {
    return this.steps;
  }

  /** (ε, δ) spent so far; ε is 0 before any release. */
  spent(delta: number): DpGuarantee {
    const guarantee = rdpToDp(this.orders, [...this.total], delta);
    // Nothing released, nothing spent (the conversion alone would report a small positive ε).
    return this.steps === 0 ? { ...guarantee, epsilon: 0 } : guarantee;
  }
}
