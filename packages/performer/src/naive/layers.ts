// Legend: L tokens, D model, V vocab, F mlp hidden, P learned positions; "in"/"out" are a matmul's widths.
/**
 * The position-wise layers of the naive reference, as forward/backward pairs in the llm.c style: forward
 * writes its outputs (and whatever backward needs) into caller-owned buffers; backward ACCUMULATES (+=)
 * into the gradient buffers, so a tensor used twice (the tied embedding) just gets both contributions.
 * Everything is float64 and written for clarity, with loop orders that walk memory contiguously.
 */

/** out = LayerNorm(inp) · weight + bias per row, biased variance. */
export function layernormForward(
  out: Float64Array, // (L, D)
  mean: Float64Array, // (L)
  rstd: Float64Array, // (L) 1 / √(var + eps)
  inp: Float64Array, // (L, D)
  weight: Float64Array, // (D)
  bias: Float64Array, // (D)
  rows: number,
  width: number,
  eps: number,
): void {
  for (let t = 0; t < rows; t++) {
    const row = t * width;
    let sum = 0;
    for (let i = 0; i < width; i++) sum += inp[row + i]!;
    const mu = sum / width;
    let sq = 0;
    for (let i = 0; i < width; i++) sq += (inp[row + i]! - mu) ** 2;
    const r = 1 / Math.sqrt(sq / width + eps);
    for (let i = 0; i < width; i++) out[row + i] = (inp[row + i]! - mu) * r * weight[i]! + bias[i]!;
    mean[t] = mu;
    rstd[t] = r;
  }
}

export function layernormBackward(
  dinp: Float64Array, // (L, D) +=
  dweight: Float64Array, // (D) +=
  dbias: Float64Array, // (D) +=
  dout: Float64Array, // (L, D)
  inp: Float64Array, // (L, D)
  weight: Float64Array, // (D)
  mean: Float64Array, // (L)
  rstd: Float64Array, // (L)
  rows: number,
  width: number,
): void {
  for (let t = 0; t < rows; t++) {
    const row = t * width;
    const mu = mean[t]!;
    const r = rstd[t]!;
    // The normalised input n = (x − μ)·r depends on every x of the row through μ and r, which gives the
    // two row means subtracted below.
    let dnormMean = 0;
    let dnormNormMean = 0;
    for (let i = 0; i < width; i++) {
      const norm = (inp[row + i]! - mu) * r;
      const dnorm = weight[i]! * dout[row + i]!;
      dnormMean += dnorm;
      dnormNormMean += dnorm * norm;
    }
    dnormMean /= width;
    dnormNormMean /= width;
    for (let i = 0; i < width; i++) {
      const norm = (inp[row + i]! - mu) * r;
      const dnorm = weight[i]! * dout[row + i]!;
      dbias[i]! += dout[row + i]!;
      dweight[i]! += norm * dout[row + i]!;
      dinp[row + i]! += (dnorm - dnormMean - norm * dnormNormMean) * r;
    }
  }
}

/** out = inp / √(mean(inp²) + eps) · weight per row (RMSNorm: no centring, no bias). */
export function rmsnormForward(
  out: Float64Array, // (L, D)
  rstd: Float64Array, // (L) 1 / √(mean(x²) + eps)
  inp: Float64Array, // (L, D)
  weight: Float64Array, // (D)
  rows: number,
  width: number,
  eps: number,
): void {
  for (let t = 0; t < rows; t++) {
    const row = t * width;
    let sq = 0;
    for (let i = 0; i < width; i++) sq += inp[row + i]! ** 2;
    const r = 1 / Math.sqrt(sq / width + eps);
    for (let i = 0; i < width; i++) out[row + i] = inp[row + i]! * r * weight[i]!;
    rstd[t] = r;
  }
}

export function rmsnormBackward(
  dinp: Float64Array, // (L, D) +=
  dweight: Float64Array, // (D) +=
  dout: Float64Array, // (L, D)
  inp: Float64Array, // (L, D)
  weight: Float64Array, // (D)
  rstd: Float64Array, // (L)
  rows: number,
  width: number,
): void {
  for (let t = 0; t < rows; t++) {
    const row = t * width;
    const r = rstd[t]!;
    // n = x·r and r depends on every x of the row: ∂r/∂x_i = −r·n_i/width, which gives the one row mean.
    let dnormNormMean = 0;
    for (let i = 0; i < width; i++) dnormNormMean += weight[i]! * dout[row + i]! * inp[row + i]! * r;
    dnormNormMean /= width;
    for (let i = 0; i < width; i++) {
      const norm = inp[row + i]! * r;
      dweight[i]! += norm * dout[row + i]!;
      dinp[row + i]! += (weight[i]! * dout[row + i]! - norm * dnormNormMean) * r;
    }
  }
}

/** out = inp @ weight (+ bias): weight is [in, out] as stored in Params. */
export function matmulForward(
  out: Float64Array, // (L, out)
  inp: Float64Array, // (L, in)
  weight: Float64Array, // (in, out)
  bias: Float64Array | null, // (out)
  rows: number,
  inDim: number,
  outDim: number,
): void {
  for (let t = 0; t < rows; t++) {
    const o = t * outDim;
    for (let j = 0; j < outDim; j++) out[o + j] = bias === null ? 0 : bias[j]!;
    for (let i = 0; i < inDim; i++) {
      const a = inp[t * inDim + i]!;
      const w = i * outDim;
      for (let j = 0; j < outDim; j++) out[o + j]! += a * weight[w + j]!;
    }
  }
}

export function matmulBackward(
  dinp: Float64Array, // (L, in) +=
  dweight: Float64Array, // (in, out) +=
  dbias: Float64Array | null, // (out) +=
  dout: Float64Array, // (L, out)
  inp: Float64Array, // (L, in)
  weight: Float64Array, // (in, out)
  rows: number,
  inDim: number,
  outDim: number,
): void {
  for (let t = 0; t < rows; t++) {
    const o = t * outDim;
    for (let i = 0; i < inDim; i++) {
      const a = inp[t * inDim + i]!;
      const w = i * outDim;
      let dot = 0;
      for (let j = 0; j < outDim; j++) {
        dot += dout[o + j]! * weight[w + j]!;
        dweight[w + j]! += a * dout[o + j]!;
      }
      dinp[t * inDim + i]! += dot;
    }
    if (dbias !== null) for (let j = 0; j < outDim; j++) dbias[j]! += dout[o + j]!;
  }
}

/** Tied LM head: logits = inp @ embᵀ, with the embedding stored [V, D]. */
export function tiedHeadForward(
  logits: Float64Array, // (L, V)
  inp: Float64Array, // (L, D)
  emb: Float64Array, // (V, D)
  rows: number,
  width: number,
  vocab: number,
): void {
  for (let t = 0; t < rows; t++) {
    for (let c = 0; c < vocab; c++) {
      let dot = 0;
      for (let i = 0; i < width; i++) dot += inp[t * width + i]! * emb[c * width + i]!;
      logits[t * vocab + c] = dot;
    }
  }
}

export function tiedHeadBackward(
  dinp: Float64Array, // (L, D) +=
  demb: Float64Array, // (V, D) +=
  dlogits: Float64Array, // (L, V)
  inp: Float64Array, // (L, D)
  emb: Float64Array, // (V, D)
  rows: number,
  width: number,
  vocab: number,
): void {
  for (let t = 0; t < rows; t++) {
    for (let c = 0; c < vocab; c++) {
      const g = dlogits[t * vocab + c]!;
      for (let i = 0; i < width; i++) {
        dinp[t * width + i]! += g * emb[c * width + i]!;
        demb[c * width + i]! += g * inp[t * width + i]!;
      }
    }
  }
}

/** Exact GELU: 0.5·x·(1 + erf(x/√2)). */
export function geluForward(out: Float64Array, inp: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const x = inp[i]!;
    out[i] = 0.5 * x * (1 + erf(x * Math.SQRT1_2));
  }
}

export function geluBackward(
  dinp: Float64Array, // (n) +=
  dout: Float64Array, // (n)
  inp: Float64Array, // (n)
  n: number,
): void {
  const invSqrt2Pi = 1 / Math.sqrt(2 * Math.PI);
  for (let i = 0; i < n; i++) {
    const x = inp[i]!;
    const cdf = 0.5 * (1 + erf(x * Math.SQRT1_2));
    const pdf = invSqrt2Pi * Math.exp(-0.5 * x * x);
    dinp[i]! += dout[i]! * (cdf + x * pdf);
  }
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_TANH_CUBIC = 0.044715;

/** GPT-2's gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluTanhForward(out: Float64Array, inp: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const x = inp[i]!;
    out[i] = 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + GELU_TANH_CUBIC * x ** 3)));
  }
}

export function geluTanhBackward(
  dinp: Float64Array, // (n) +=
  dout: Float64Array, // (n)
  inp: Float64Array, // (n)
  n: number,
): void {
  for (let i = 0; i < n; i++) {
    const x = inp[i]!;
    const th = Math.tanh(SQRT_2_OVER_PI * (x + GELU_TANH_CUBIC * x ** 3));
    const du = SQRT_2_OVER_PI * (1 + 3 * GELU_TANH_CUBIC * x * x);
    dinp[i]! += dout[i]! * (0.5 * (1 + th) + 0.5 * x * (1 - th * th) * du);
  }
}

/** SwiGLU's gating: out = silu(gate) ⊙ up, silu(g) = g·σ(g). */
export function swigluForward(
  out: Float64Array, // (n)
  gate: Float64Array, // (n)
  up: Float64Array, // (n)
  n: number,
): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    out[i] = (g / (1 + Math.exp(-g))) * up[i]!;
  }
}

/** ∂silu(g)/∂g = σ(g)·(1 + g·(1 − σ(g))). */
export function swigluBackward(
  dgate: Float64Array, // (n) +=
  dup: Float64Array, // (n) +=
  dout: Float64Array, // (n)
  gate: Float64Array, // (n)
  up: Float64Array, // (n)
  n: number,
): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    const sigmoid = 1 / (1 + Math.exp(-g));
    dgate[i]! += dout[i]! * up[i]! * sigmoid * (1 + g * (1 - sigmoid));
    dup[i]! += dout[i]! * g * sigmoid;
  }
}

/** h[t] = emb[token[t]]. */
export function embeddingForward(
  out: Float64Array, // (L, D)
  tokens: Int32Array, // (L)
  emb: Float64Array, // (V, D)
  rows: number,
  width: number,
): void {
  for (let t = 0; t < rows; t++) {
    const row = tokens[t]! * width;
    for (let i = 0; i < width; i++) out[t * width + i] = emb[row + i]!;
  }
}

export function embeddingBackward(
  demb: Float64Array, // (V, D) +=
  dout: Float64Array, // (L, D)
  tokens: Int32Array, // (L)
  rows: number,
  width: number,
): void {
  for (let t = 0; t < rows; t++) {
    const row = tokens[t]! * width;
    for (let i = 0; i < width; i++) demb[row + i]! += dout[t * width + i]!;
  }
}

/** Learned absolute positions: out[t] += pos[start + t] (the caller checked start + L ≤ P). */
export function positionEmbeddingForward(
  out: Float64Array, // (L, D) +=
  pos: Float64Array, // (P, D)
  start: number,
  rows: number,
  width: number,
): void {
  for (let t = 0; t < rows; t++) {
    const row = (start + t) * width;
    for (let i = 0; i < width; i++) out[t * width + i]! += pos[row + i]!;
  }
}

export function positionEmbeddingBackward(
  dpos: Float64Array, // (P, D) +=
  dout: Float64Array, // (L, D)
  start: number,
  rows: number,
  width: number,
): void {
  for (let t = 0; t < rows; t++) {
    const row = (start + t) * width;
    for (let i = 0; i < width; i++) dpos[row + i]! += dout[t * width + i]!;
  }
}

/**
 * probs = softmax(logits) per row (max subtracted first, so exp never overflows); also writes each row's
 * log Σ exp(logits) when asked, which cross-entropy needs (log of a tiny probability would underflow).
 */
export function softmaxForward(
  probs: Float64Array, // (L, V)
  logits: Float64Array, // (L, V)
  rows: number,
  vocab: number,
  logSumExp?: Float64Array, // (L)
): void {
  for (let t = 0; t < rows; t++) {
    const row = t * vocab;
    let max = -Infinity;
    for (let c = 0; c < vocab; c++) max = Math.max(max, logits[row + c]!);
    let sum = 0;
    for (let c = 0; c < vocab; c++) {
      const e = Math.exp(logits[row + c]! - max);
      probs[row + c] = e;
      sum += e;
    }
    for (let c = 0; c < vocab; c++) probs[row + c]! /= sum;
    if (logSumExp) logSumExp[t] = max + Math.log(sum);
  }
}

/**
 * Mean cross-entropy (natural log) of the targets under softmax(logits), via a max-shifted log-sum-exp.
 * Writes the softmax probabilities, which are all that backward needs.
 */
export function crossEntropyForward(
  probs: Float64Array, // (L, V)
  logits: Float64Array, // (L, V)
  targets: Int32Array, // (L)
  rows: number,
  vocab: number,
): number {
  const logSumExp = new Float64Array(rows); // (L)
  softmaxForward(probs, logits, rows, vocab, logSumExp);
  let total = 0;
  for (let t = 0; t < rows; t++) total += logSumExp[t]! - logits[t * vocab + targets[t]!]!;
  return total / rows;
}

/** dlogits += dloss · (softmax − onehot(target)) / L, the gradient of the mean. */
export function crossEntropyBackward(
  dlogits: Float64Array, // (L, V) +=
  probs: Float64Array, // (L, V)
  targets: Int32Array, // (L)
  dloss: number,
  rows: number,
  vocab: number,
): void {
  const scale = dloss / rows;
  for (let t = 0; t < rows; t++) {
    const row = t * vocab;
    for (let c = 0; c < vocab; c++) dlogits[row + c]! += scale * probs[row + c]!;
    dlogits[row + targets[t]!]! -= scale;
  }
}

/**
 * erf in float64, to a few ulp (JavaScript has none). |x| < 3: the everywhere-positive series
 * erf(x) = (2/√π)·e^(−x²)·Σ 2ⁿx^(2n+1)/(1·3···(2n+1)), which has no cancellation; beyond, erfc's continued
 * fraction (modified Lentz), which converges fast there; past 6, erfc < 3e-17 and erf is ±1 in float64.
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax >= 6) return Math.sign(x);
  if (ax < 3) {
    let term = ax;
    let sum = ax;
    for (let n = 1; term > sum * 1e-17; n++) {
      term *= (2 * ax * ax) / (2 * n + 1);
      sum += term;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * Math.exp(-ax * ax) * sum;
  }
  return Math.sign(x) * (1 - erfcContinuedFraction(ax));
}

/** erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …))))) for x > 0. */
function erfcContinuedFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = x + a * d;
    d = d === 0 ? tiny : d;
    c = x + a / c;
    c = c === 0 ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}
