// Legend: L tokens, D = H·E model, H query heads, K key/value heads, G = H/K, E head size, M random features.
/**
 * The attention layers of the naive reference: rotary embedding, FAVOR+ features, causal linear attention
 * and (the teacher FAVOR+ approximates) exact causal softmax attention, as forward/backward pairs
 * (backward ACCUMULATES into gradient buffers). A (L, D) buffer is read as (L, H, E): head hd owns columns
 * [hd·E, (hd+1)·E) of every row; keys and values are (L, K·E) the same way. Grouped-query attention (HF's
 * repeat_kv order): query head hd reads key/value head floor(hd / G). Feature buffers are (L, H, M) for
 * queries and (L, K, M) for keys.
 */

/**
 * out = RoPE(scale · inp) at absolute positions start..start+L−1: each pair (x_2p, x_2p+1) of every head
 * (H for queries, K for keys) is rotated by t·θ_p, θ_p = base^(−2p/E). `scale` is the E^(−1/4) query/key scaling, folded in here so
 * the model needs no separate pass for it (both are linear, so the order does not matter). `start` is
 * where the rows sit in the sequence: 0 for a whole sequence, the token's position for a decoder step.
 */
export function ropeForward(
  out: Float64Array, // (L, D)
  inp: Float64Array, // (L, D)
  rows: number,
  heads: number,
  headSize: number,
  base: number,
  scale: number,
  start = 0,
): void {
  forEachRotation(rows, heads, headSize, base, start, (i, cos, sin) => {
    const x0 = scale * inp[i]!;
    const x1 = scale * inp[i + 1]!;
    out[i] = x0 * cos - x1 * sin;
    out[i + 1] = x0 * sin + x1 * cos;
  });
}

/** The transpose of the forward map: rotate back by −t·θ_p, then scale. */
export function ropeBackward(
  dinp: Float64Array, // (L, D) +=
  dout: Float64Array, // (L, D)
  rows: number,
  heads: number,
  headSize: number,
  base: number,
  scale: number,
  start = 0,
): void {
  forEachRotation(rows, heads, headSize, base, start, (i, cos, sin) => {
    const g0 = dout[i]!;
    const g1 = dout[i + 1]!;
    dinp[i]! += scale * (g0 * cos + g1 * sin);
    dinp[i + 1]! += scale * (-g0 * sin + g1 * cos);
  });
}

function forEachRotation(
  rows: number,
  heads: number,
  headSize: number,
  base: number,
  start: number,
  visit: (index: number, cos: number, sin: number) => void,
): void {
  const half = headSize / 2;
  const theta = Float64Array.from({ length: half }, (_, p) => base ** ((-2 * p) / headSize)); // (E/2)
  for (let t = 0; t < rows; t++) {
    for (let p = 0; p < half; p++) {
      const angle = (start + t) * theta[p]!;
      const cos = Math.cos(angle);
      const sin = Math.sin(angle);
      for (let hd = 0; hd < heads; hd++) visit((t * heads + hd) * headSize + 2 * p, cos, sin);
    }
  }
}

/**
 * Which stabiliser the feature map subtracts inside the exp. Keys share one constant per layer (every key
 * of a prefix-sum state must use the same one); a query subtracts its own max_j(ω_j·q − |q|²/2), which
 * cancels between numerator and denominator and is held constant in backward (stop-gradient).
 */
export type FeatureStabiliser = { kind: 'key'; value: number } | { kind: 'query' };

/** φ(x)_j = exp(ω_j·x − |x|²/2 − stabiliser) / √M for every token and head (H queries or K keys). */
export function favorFeaturesForward(
  phi: Float64Array, // (L, H, M)
  x: Float64Array, // (L, H·E)
  omega: Float64Array, // (M, E)
  rows: number,
  heads: number,
  headSize: number,
  features: number,
  stabiliser: FeatureStabiliser,
): void {
  const invSqrtM = 1 / Math.sqrt(features);
  for (let t = 0; t < rows; t++) {
    for (let hd = 0; hd < heads; hd++) {
      const xo = (t * heads + hd) * headSize;
      const po = (t * heads + hd) * features;
      let halfSq = 0;
      for (let e = 0; e < headSize; e++) halfSq += x[xo + e]! ** 2;
      halfSq /= 2;
      // exponent_j = ω_j·x − |x|²/2, kept in phi until the stabiliser is known
      let max = -Infinity;
      for (let j = 0; j < features; j++) {
        let dot = 0;
        for (let e = 0; e < headSize; e++) dot += omega[j * headSize + e]! * x[xo + e]!;
        phi[po + j] = dot - halfSq;
        max = Math.max(max, dot - halfSq);
      }
      const s = stabiliser.kind === 'key' ? stabiliser.value : max;
      for (let j = 0; j < features; j++) phi[po + j] = Math.exp(phi[po + j]! - s) * invSqrtM;
    }
  }
}

/**
 * Both forms share this backward, because the stabiliser is a constant in both: ∂φ_j/∂x = φ_j·(ω_j − x),
 * so dx += Σ_j dφ_j φ_j ω_j − (Σ_j dφ_j φ_j)·x.
 */
export function favorFeaturesBackward(
  dx: Float64Array, // (L, H·E) +=
  dphi: Float64Array, // (L, H, M)
  phi: Float64Array, // (L, H, M)
  x: Float64Array, // (L, H·E)
  omega: Float64Array, // (M, E)
  rows: number,
  heads: number,
  headSize: number,
  features: number,
): void {
  for (let t = 0; t < rows; t++) {
    for (let hd = 0; hd < heads; hd++) {
      const xo = (t * heads + hd) * headSize;
      const po = (t * heads + hd) * features;
      let total = 0;
      for (let j = 0; j < features; j++) {
        const g = dphi[po + j]! * phi[po + j]!;
        total += g;
        for (let e = 0; e < headSize; e++) dx[xo + e]! += g * omega[j * headSize + e]!;
      }
      for (let e = 0; e < headSize; e++) dx[xo + e]! -= total * x[xo + e]!;
    }
  }
}

/**
 * The prefix-sum state of causal linear attention for every key/value head (one per K, shared by its G
 * query heads), carried from token to token: S = Σ_τ φk_τ v_τᵀ and z = Σ_τ φk_τ over the tokens seen so
 * far. Together (K, M, E + 1) numbers, the size of the chunk engine's [K, M, E + 1] state with z as column E.
 */
export interface AttentionState {
  s: Float64Array; // (K, M, E)
  z: Float64Array; // (K, M)
}

export function emptyAttentionState(kvHeads: number, headSize: number, features: number): AttentionState {
  return { s: new Float64Array(kvHeads * features * headSize), z: new Float64Array(kvHeads * features) };
}

/** The shapes every attention layer below works on. */
export interface AttentionShape {
  heads: number; // H query heads
  kvHeads: number; // K key/value heads, dividing H
  headSize: number; // E
  features: number; // M (unused by softmax attention)
}

/**
 * One token of causal (inclusive) linear attention for every head, the recurrent form:
 *   S_κ += φk_κ v_κᵀ,  z_κ += φk_κ  for every key/value head κ, then
 *   o_hd = φq_hdᵀ S_κ / (φq_hdᵀ z_κ + eps)  for every query head, κ = floor(hd / G).
 * Updates `state` in place; this is both the inner loop of the full-sequence forward below and the
 * decoder's step (naive/decode.ts), so the two compute the same numbers in the same order.
 */
export function linearAttentionStep(
  out: Float64Array, // (H·E)
  den: Float64Array, // (H) φqᵀz + eps
  state: AttentionState, // S (K, M, E), z (K, M), +=
  phiQ: Float64Array, // (H, M)
  phiK: Float64Array, // (K, M)
  v: Float64Array, // (K·E)
  shape: AttentionShape,
  eps: number,
): void {
  const { heads, kvHeads, headSize, features } = shape;
  const group = heads / kvHeads;
  for (let kh = 0; kh < kvHeads; kh++) {
    const vo = kh * headSize;
    const po = kh * features;
    const so = kh * features * headSize;
    for (let j = 0; j < features; j++) {
      const k = phiK[po + j]!;
      state.z[po + j]! += k;
      for (let e = 0; e < headSize; e++) state.s[so + j * headSize + e]! += k * v[vo + e]!;
    }
  }
  for (let hd = 0; hd < heads; hd++) {
    const kh = Math.floor(hd / group);
    const oo = hd * headSize;
    const qo = hd * features;
    const zo = kh * features;
    const so = kh * features * headSize;
    let d = eps;
    for (let j = 0; j < features; j++) d += phiQ[qo + j]! * state.z[zo + j]!;
    for (let e = 0; e < headSize; e++) out[oo + e] = 0;
    for (let j = 0; j < features; j++) {
      const q = phiQ[qo + j]!;
      for (let e = 0; e < headSize; e++) out[oo + e]! += q * state.s[so + j * headSize + e]!;
    }
    for (let e = 0; e < headSize; e++) out[oo + e]! /= d;
    den[hd] = d;
  }
}

/**
 * Causal (inclusive) linear attention per head, by prefix sums in O(L·M·E):
 *   S_t = Σ_{τ≤t} φk_τ v_τᵀ (M, E),  z_t = Σ_{τ≤t} φk_τ (M),  o_t = φq_tᵀ S_t / (φq_tᵀ z_t + eps),
 * keys and values from the query head's key/value head. Stores the denominators for backward; the states
 * themselves are rebuilt there, not stored. Starts from `state` when given (and leaves the state after
 * the last row in it), else from zeros.
 */
export function causalLinearAttentionForward(
  out: Float64Array, // (L, H·E)
  den: Float64Array, // (L, H) φq_tᵀ z_t + eps
  phiQ: Float64Array, // (L, H, M)
  phiK: Float64Array, // (L, K, M)
  v: Float64Array, // (L, K·E)
  rows: number,
  shape: AttentionShape,
  eps: number,
  state: AttentionState = emptyAttentionState(shape.kvHeads, shape.headSize, shape.features),
): void {
  const { heads, kvHeads, headSize, features } = shape;
  const d = heads * headSize;
  const dkv = kvHeads * headSize;
  const hm = heads * features;
  const km = kvHeads * features;
  for (let t = 0; t < rows; t++) {
    linearAttentionStep(
      out.subarray(t * d, (t + 1) * d),
      den.subarray(t * heads, (t + 1) * heads),
      state,
      phiQ.subarray(t * hm, (t + 1) * hm),
      phiK.subarray(t * km, (t + 1) * km),
      v.subarray(t * dkv, (t + 1) * dkv),
      shape,
      eps,
    );
  }
}

/**
 * With dnum_t = do_t / den_t and dden_t = −(do_t · o_t) / den_t, per query head:
 *   dφq_t = S_t dnum_t + z_t dden_t                                  (forward sweep, rebuilding S_t, z_t)
 * and per key/value head, summing over its G query heads:
 *   G_τ = Σ_hd Σ_{t≥τ} φq_t dnum_tᵀ,  g_τ = Σ_hd Σ_{t≥τ} φq_t dden_t  (reverse sweep, suffix sums)
 *   dφk_τ = G_τ v_τ + g_τ,  dv_τ = G_τᵀ φk_τ
 */
export function causalLinearAttentionBackward(
  dphiQ: Float64Array, // (L, H, M) +=
  dphiK: Float64Array, // (L, K, M) +=
  dv: Float64Array, // (L, K·E) +=
  dout: Float64Array, // (L, H·E)
  out: Float64Array, // (L, H·E)
  den: Float64Array, // (L, H)
  phiQ: Float64Array, // (L, H, M)
  phiK: Float64Array, // (L, K, M)
  v: Float64Array, // (L, K·E)
  rows: number,
  shape: AttentionShape,
): void {
  const { heads, kvHeads, headSize, features } = shape;
  const group = heads / kvHeads;
  const state = new Float64Array(features * headSize); // (M, E) S_t, then G_τ
  const norm = new Float64Array(features); // (M) z_t, then g_τ
  const dnum = new Float64Array(headSize); // (E)
  const dnumOf = (t: number, hd: number): number => {
    const oo = (t * heads + hd) * headSize;
    const d = den[t * heads + hd]!;
    let dden = 0;
    for (let e = 0; e < headSize; e++) {
      dnum[e] = dout[oo + e]! / d;
      dden -= dout[oo + e]! * out[oo + e]!;
    }
    return dden / d;
  };
  for (let kh = 0; kh < kvHeads; kh++) {
    state.fill(0);
    norm.fill(0);
    for (let t = 0; t < rows; t++) {
      const vo = (t * kvHeads + kh) * headSize;
      const ko = (t * kvHeads + kh) * features;
      for (let j = 0; j < features; j++) {
        const k = phiK[ko + j]!;
        norm[j]! += k;
        for (let e = 0; e < headSize; e++) state[j * headSize + e]! += k * v[vo + e]!;
      }
      for (let hd = kh * group; hd < (kh + 1) * group; hd++) {
        const qo = (t * heads + hd) * features;
        const dden = dnumOf(t, hd);
        for (let j = 0; j < features; j++) {
          let g = norm[j]! * dden;
          for (let e = 0; e < headSize; e++) g += state[j * headSize + e]! * dnum[e]!;
          dphiQ[qo + j]! += g;
        }
      }
    }
    state.fill(0);
    norm.fill(0);
    for (let t = rows - 1; t >= 0; t--) {
      const vo = (t * kvHeads + kh) * headSize;
      const ko = (t * kvHeads + kh) * features;
      for (let hd = kh * group; hd < (kh + 1) * group; hd++) {
        const qo = (t * heads + hd) * features;
        const dden = dnumOf(t, hd);
        for (let j = 0; j < features; j++) {
          const q = phiQ[qo + j]!;
          norm[j]! += q * dden;
          for (let e = 0; e < headSize; e++) state[j * headSize + e]! += q * dnum[e]!;
        }
      }
      for (let j = 0; j < features; j++) {
        const k = phiK[ko + j]!;
        let g = norm[j]!;
        for (let e = 0; e < headSize; e++) {
          g += state[j * headSize + e]! * v[vo + e]!;
          dv[vo + e]! += state[j * headSize + e]! * k;
        }
        dphiK[ko + j]! += g;
      }
    }
  }
}

/**
 * Exact causal softmax attention, the function FAVOR+ estimates: o_t = Σ_{τ≤t} softmax_τ(q_t·k_τ) v_τ per
 * query head, keys and values from its key/value head. q and k arrive already scaled by E^(−1/4) each
 * (and rotated), so q·k here is the usual q·k/√E. Forward only: it is a reference to compare against.
 */
export function causalSoftmaxAttentionForward(
  out: Float64Array, // (L, H·E)
  q: Float64Array, // (L, H·E)
  k: Float64Array, // (L, K·E)
  v: Float64Array, // (L, K·E)
  rows: number,
  shape: AttentionShape,
): void {
  const { heads, kvHeads, headSize } = shape;
  const group = heads / kvHeads;
  const scores = new Float64Array(rows); // (L) one query's scores over the keys up to it
  for (let t = 0; t < rows; t++) {
    for (let hd = 0; hd < heads; hd++) {
      const kh = Math.floor(hd / group);
      const qo = (t * heads + hd) * headSize;
      let max = -Infinity;
      for (let tau = 0; tau <= t; tau++) {
        const ko = (tau * kvHeads + kh) * headSize;
        let dot = 0;
        for (let e = 0; e < headSize; e++) dot += q[qo + e]! * k[ko + e]!;
        scores[tau] = dot;
        max = Math.max(max, dot);
      }
      let sum = 0;
      for (let e = 0; e < headSize; e++) out[qo + e] = 0;
      for (let tau = 0; tau <= t; tau++) {
        const w = Math.exp(scores[tau]! - max);
        sum += w;
        const vo = (tau * kvHeads + kh) * headSize;
        for (let e = 0; e < headSize; e++) out[qo + e]! += w * v[vo + e]!;
      }
      for (let e = 0; e < headSize; e++) out[qo + e]! /= sum;
    }
  }
}
