/**
 * Gossipsub checks signatures itself (StrictSign) and drops bad ones before any topic validator runs; the
 * only place it reports them is its metrics. This register implements gossipsub's MetricsRegister with
 * no-op instruments except the invalid-message counter, which it forwards, so the swarm can count
 * signature failures next to its own rejection reasons.
 */
import type { MetricsRegister } from '@libp2p/gossipsub/metrics';

/** Gossipsub's reasons that mean "not signed as StrictSign requires". */
const SIGNATURE_ERRORS = new Set([
  'invalid_signature',
  'invalid_seqno',
  'invalid_peerid',
  'signature_present',
  'seqno_present',
  'from_present',
]);

export class GossipRejectTap {
  /** Set by the swarm service; called once per message gossipsub refused for its signature. */
  onBadSignature: (() => void) | null = null;

  readonly register: MetricsRegister = {
    gauge: (config) => ({
      inc: ((labels?: unknown) => {
        const error = (labels as { error?: string } | undefined)?.error;
        if (config.name === 'gossipsub_msg_received_invalid_total' && error && SIGNATURE_ERRORS.has(error)) {
          this.onBadSignature?.();
        }
      }) as never,
      set: (() => undefined) as never,
      addCollect: () => undefined,
    }),
    histogram: () => ({
      startTimer: () => () => undefined,
      observe: (() => undefined) as never,
      reset: () => undefined,
    }),
    avgMinMax: () => ({ set: (() => undefined) as never }),
  };
}
