/**
 * From RDP to (ε, δ)-DP. For each order α (Canonne, Kamath, Steinke 2020, Prop. 12; Balle et al. 2020,
 * Thm. 21 — the conversion Opacus and dp-accounting use):
 *   ε = RDP(α) + log((α − 1)/α) − (log δ + log α) / (α − 1),
 * tighter than Mironov's original RDP(α) + log(1/δ)/(α − 1) at every α, and the accountant reports the
 * best order.
 */
import { InvalidPrivacyParameterError } from './errors.js';

export interface DpGuarantee {
  epsilon: number;
  delta: number;
  /** The RDP order the bound came from. */
  order: number;
}

export function rdpToDp(orders: readonly number[], rdp: readonly number[], delta: number): DpGuarantee {
  if (!(delta > 0 && delta < 1)) throw new InvalidPrivacyParameterError(`δ must be in (0, 1), got ${delta}`);
  if (orders.length === 0 || orders.length !== rdp.length) {
    throw new InvalidPrivacyParameterError('one RDP value per order is needed');
  }
  let best: DpGuarantee = { epsilon: Infinity, delta, order: orders[0]! };
  orders.forEach((alpha, i) => {
    const eps = rdp[i]! + Math.log1p(-1 / alpha) - (Math.log(delta) + Math.log(alpha)) / (alpha - 1);
    if (eps < best.epsilon) best = { epsilon: Math.max(0, eps), delta, order: alpha };
  });
  return best;
}
