/**
 * How the engines' gradients are compared with the float64 reference (tests and benchmark): per tensor,
 * the largest absolute difference relative to the reference tensor's largest magnitude,
 *   relErr(a, b) = max_i |a_i − b_i| / max(max_i |b_i|, TINY),
 * so a tensor is judged on the scale of its own gradient and entries near zero do not blow it up.
 */
const TINY = 1e-30;

export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let difference = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    difference = Math.max(difference, Math.abs((actual[i] ?? Number.NaN) - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  if (actual.length !== expected.length || Number.isNaN(difference)) return Number.POSITIVE_INFINITY;
  return difference / Math.max(scale, TINY);
}

/** The worst tensor: its name and relative error (a missing tensor counts as infinitely wrong). */
export function maxGradRelativeError(
  actual: Readonly<Record<string, ArrayLike<number>>>,
  expected: Readonly<Record<string, ArrayLike<number>>>,
): { name: string; error: number } {
  let worst = { name: '', error: 0 };
  for (const [name, reference] of Object.entries(expected)) {
    const mine = actual[name];
    const error = mine ? relativeError(mine, reference) : Number.POSITIVE_INFINITY;
    if (error >= worst.error) worst = { name, error };
  }
  return worst;
}
