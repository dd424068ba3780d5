/**
 * The learning-rate multiplier of step `step` (1-based) of `steps`: linear warm-up to the peak over
 * `warmup` steps, then cosine down to a tenth of it at the last step.
 */
export function warmupCosineScale(step: number, warmup: number, steps: number): number {
  return step <= warmup
    ? step / warmup
    : 0.1 + 0.45 * (1 + Math.cos((Math.PI * (step - warmup)) / Math.max(1, steps - warmup)));
}
