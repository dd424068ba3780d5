// Legend: L tokens, D model, H heads, K key/value heads, E = D/H head size, F MLP size, V vocab, P positions.
/**
 * A straightforward float64 forward pass of the three Hugging Face architectures, written from
 * transformers' modeling_llama.py / modeling_qwen2.py / modeling_gpt2.py and reading the HF tensors as
 * the file holds them (no import, no shared code with the performer): [out, in] Linear weights, Conv1D
 * [in, out] weights with c_attn = q | k | v, rotate_half RoPE, repeat_kv, causal softmax attention,
 * RMSNorm / LayerNorm, SwiGLU / gelu_new, learned positions, tied or untied head. Returns logits (L, V).
 */
import type { HfFixture } from '../src/fixtures.js';

type Mat = Float64Array;

function tensor(fx: HfFixture, name: string): Mat {
  const t = fx.tensors[name];
  if (!t) throw new Error(`fixture lacks ${name}`);
  return Float64Array.from(t.values);
}

/** y (L, out) = x (L, in) @ Wᵀ + b, W stored [out, in] (torch Linear). */
function linear(x: Mat, L: number, inp: number, w: Mat, out: number, b?: Mat): Mat {
  const y = new Float64Array(L * out);
  for (let t = 0; t < L; t++)
    for (let o = 0; o < out; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < inp; i++) s += x[t * inp + i]! * w[o * inp + i]!;
      y[t * out + o] = s;
    }
  return y;
}

/** y (L, out) = x (L, in) @ W + b, W stored [in, out] (GPT-2's Conv1D). */
function conv1d(x: Mat, L: number, inp: number, w: Mat, out: number, b: Mat): Mat {
  const y = new Float64Array(L * out);
  for (let t = 0; t < L; t++)
    for (let o = 0; o < out; o++) {
      let s = b[o]!;
      for (let i = 0; i < inp; i++) s += x[t * inp + i]! * w[i * out + o]!;
      y[t * out + o] = s;
    }
  return y;
}

function rmsNorm(x: Mat, L: number, D: number, w: Mat, eps: number): Mat {
  const y = new Float64Array(L * D);
  for (let t = 0; t < L; t++) {
    let ms = 0;
    for (let i = 0; i < D; i++) ms += x[t * D + i]! ** 2;
    const r = 1 / Math.sqrt(ms / D + eps);
    for (let i = 0; i < D; i++) y[t * D + i] = x[t * D + i]! * r * w[i]!;
  }
  return y;
}

function layerNorm(x: Mat, L: number, D: number, w: Mat, b: Mat, eps: number): Mat {
  const y = new Float64Array(L * D);
  for (let t = 0; t < L; t++) {
    let mean = 0;
    for (let i = 0; i < D; i++) mean += x[t * D + i]!;
    mean /= D;
    let v = 0;
    for (let i = 0; i < D; i++) v += (x[t * D + i]! - mean) ** 2;
    const r = 1 / Math.sqrt(v / D + eps);
    for (let i = 0; i < D; i++) y[t * D + i] = (x[t * D + i]! - mean) * r * w[i]! + b[i]!;
  }
  return y;
}

/** q * cos + rotate_half(q) * sin, rotate_half(x) = cat(−x[E/2:], x[:E/2]), per head, in place. */
function rotateHalf(x: Mat, L: number, heads: number, E: number, theta: number): void {
  const half = E / 2;
  for (let t = 0; t < L; t++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < half; i++) {
        const angle = t * theta ** (-(2 * i) / E);
        const at = t * heads * E + h * E;
        const x1 = x[at + i]!;
        const x2 = x[at + i + half]!;
        x[at + i] = x1 * Math.cos(angle) - x2 * Math.sin(angle);
        x[at + i + half] = x2 * Math.cos(angle) + x1 * Math.sin(angle);
      }
}

/** Causal softmax attention; query head h reads key/value head ⌊h / (H/K)⌋ (repeat_kv). */
function attention(q: Mat, k: Mat, v: Mat, L: number, H: number, K: number, E: number): Mat {
  const out = new Float64Array(L * H * E);
  const group = H / K;
  for (let h = 0; h < H; h++) {
    const g = Math.floor(h / group);
    for (let t = 0; t < L; t++) {
      const scores = new Float64Array(t + 1);
      let max = -Infinity;
      for (let s = 0; s <= t; s++) {
        let dot = 0;
        for (let i = 0; i < E; i++) dot += q[t * H * E + h * E + i]! * k[s * K * E + g * E + i]!;
        scores[s] = dot / Math.sqrt(E);
        max = Math.max(max, scores[s]!);
      }
      let sum = 0;
      for (let s = 0; s <= t; s++) sum += scores[s] = Math.exp(scores[s]! - max);
      for (let s = 0; s <= t; s++)
        for (let i = 0; i < E; i++)
          out[t * H * E + h * E + i] =
            out[t * H * E + h * E + i]! + (scores[s]! / sum) * v[s * K * E + g * E + i]!;
    }
  }
  return out;
}

function addInto(x: Mat, y: Mat): void {
  for (let i = 0; i < x.length; i++) x[i] = x[i]! + y[i]!;
}

const silu = (x: number): number => x / (1 + Math.exp(-x));
const geluNew = (x: number): number =>
  0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

/** logits (L, V) = h (L, D) @ Wᵀ with W [V, D] (the embedding, tied, or lm_head). */
function head(h: Mat, L: number, D: number, w: Mat, V: number): Mat {
  return linear(h, L, D, w, V);
}

export function hfLogits(fx: HfFixture, tokens: readonly number[]): Float64Array {
  const n = (key: string): number => fx.config[key] as number;
  const L = tokens.length;
  const g = (name: string): Mat => tensor(fx, name);
  if (fx.family === 'gpt2') {
    const [D, H, V, N] = [n('n_embd'), n('n_head'), n('vocab_size'), n('n_layer')];
    const E = D / H;
    const F = (fx.config['n_inner'] as number | null) ?? 4 * D;
    const eps = n('layer_norm_epsilon');
    const wte = g('wte.weight');
    const wpe = g('wpe.weight');
    const x = new Float64Array(L * D);
    tokens.forEach((tok, t) => {
      for (let i = 0; i < D; i++) x[t * D + i] = wte[tok * D + i]! + wpe[t * D + i]!;
    });
    for (let l = 0; l < N; l++) {
      const p = `h.${l}`;
      const a = layerNorm(x, L, D, g(`${p}.ln_1.weight`), g(`${p}.ln_1.bias`), eps);
      const qkv = conv1d(a, L, D, g(`${p}.attn.c_attn.weight`), 3 * D, g(`${p}.attn.c_attn.bias`));
      const [q, k, v] = [0, 1, 2].map((j) => {
        const m = new Float64Array(L * D);
        for (let t = 0; t < L; t++) m.set(qkv.subarray(t * 3 * D + j * D, t * 3 * D + (j + 1) * D), t * D);
        return m;
      }) as [Mat, Mat, Mat];
      const att = attention(q, k, v, L, H, H, E);
      addInto(x, conv1d(att, L, D, g(`${p}.attn.c_proj.weight`), D, g(`${p}.attn.c_proj.bias`)));
      const m = layerNorm(x, L, D, g(`${p}.ln_2.weight`), g(`${p}.ln_2.bias`), eps);
      const up = conv1d(m, L, D, g(`${p}.mlp.c_fc.weight`), F, g(`${p}.mlp.c_fc.bias`)).map(geluNew);
      addInto(x, conv1d(up, L, F, g(`${p}.mlp.c_proj.weight`), D, g(`${p}.mlp.c_proj.bias`)));
    }
    const out = layerNorm(x, L, D, g('ln_f.weight'), g('ln_f.bias'), eps);
    return head(out, L, D, fx.config['tie_word_embeddings'] === false ? g('lm_head.weight') : wte, V);
  }
  const [D, H, V, N, F] = [
    n('hidden_size'),
    n('num_attention_heads'),
    n('vocab_size'),
    n('num_hidden_layers'),
    n('intermediate_size'),
  ];
  const K = (fx.config['num_key_value_heads'] as number | undefined) ?? H;
  const E = D / H;
  const eps = n('rms_norm_eps');
  const theta = n('rope_theta');
  const qkvBias = fx.family === 'qwen2' || fx.config['attention_bias'] === true;
  const oBias = fx.family === 'llama' && fx.config['attention_bias'] === true;
  const mlpBias = fx.config['mlp_bias'] === true;
  const opt = (name: string, present: boolean): Mat | undefined => (present ? g(name) : undefined);
  const embed = g('model.embed_tokens.weight');
  const x = new Float64Array(L * D);
  tokens.forEach((tok, t) => x.set(embed.subarray(tok * D, (tok + 1) * D), t * D));
  for (let l = 0; l < N; l++) {
    const p = `model.layers.${l}`;
    const a = rmsNorm(x, L, D, g(`${p}.input_layernorm.weight`), eps);
    const proj = (n: string, out: number): Mat =>
      linear(a, L, D, g(`${p}.self_attn.${n}.weight`), out, opt(`${p}.self_attn.${n}.bias`, qkvBias));
    const q = proj('q_proj', H * E);
    const k = proj('k_proj', K * E);
    const v = proj('v_proj', K * E);
    rotateHalf(q, L, H, E, theta);
    rotateHalf(k, L, K, E, theta);
    const att = attention(q, k, v, L, H, K, E);
    addInto(
      x,
      linear(att, L, D, g(`${p}.self_attn.o_proj.weight`), D, opt(`${p}.self_attn.o_proj.bias`, oBias)),
    );
    const m = rmsNorm(x, L, D, g(`${p}.post_attention_layernorm.weight`), eps);
    const mlp = (n: string, inp: Mat, i: number, o: number): Mat =>
      linear(inp, L, i, g(`${p}.mlp.${n}.weight`), o, opt(`${p}.mlp.${n}.bias`, mlpBias));
    const gate = mlp('gate_proj', m, D, F);
    const up = mlp('up_proj', m, D, F);
    const act = gate.map((z, i) => silu(z) * up[i]!);
    addInto(x, mlp('down_proj', act, F, D));
  }
  const out = rmsNorm(x, L, D, g('model.norm.weight'), eps);
  return head(out, L, D, fx.config['tie_word_embeddings'] === true ? embed : g('lm_head.weight'), V);
}
