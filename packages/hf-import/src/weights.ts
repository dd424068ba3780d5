/**
 * Hugging Face tensors → our parameters (names and layout in performer's params.ts), streamed: each
 * tensor's byte range is read a few rows at a time into one small scratch buffer and converted straight
 * into its fp32 destination, so memory is one fp32 copy of the weights plus that buffer.
 *
 * Layouts: a torch Linear weight is [out, in] and ours [in, out] (transposed on the way); GPT-2's Conv1D is
 * already [in, out], and its c_attn holds q | k | v side by side on the out axis (split). HF's RoPE
 * (`rotate_half`) pairs dimension i of a head with i + E/2, ours pairs 2p with 2p + 1 at the same
 * frequency θ_p = base^(−2p/E); permuting each head's q and k output columns (and biases) by
 * i → 2i, E/2 + i → 2i + 1 makes our RoPE compute exactly HF's scores, and nothing else sees q or k.
 */
import { f16BitsToF32 } from '@slimswarm/protocol';
import { dimsOf, paramShapes, type ModelConfig, type Params } from '@slimswarm/performer/weights';
import type { HfFamily, HfModel } from './config.js';
import {
  MissingTensorError,
  NonFiniteWeightError,
  ShardIndexError,
  TensorShapeError,
  UnexpectedTensorError,
  UnsupportedDtypeError,
} from './errors.js';
import type { TensorEntry } from './safetensors-header.js';

/** Writes source row `row` (values of one row of the HF tensor, or all of a 1-D one) into our params. */
type Place = (row: number, values: Float32Array) => void;

interface Planned {
  /** The HF tensor's shape config.json implies. */
  shape: number[];
  place: Place;
}

/** Scratch bytes per read; a row longer than this is read on its own. */
const READ_BYTES = 1 << 20;

const ELEMENT_BYTES: Readonly<Record<string, number>> = { F32: 4, F16: 2, BF16: 2 };

/** Rows of `dest` ([rows, cols], same layout as the source). */
const copy =
  (dest: Float32Array): Place =>
  (row, values) =>
    dest.set(values, row * values.length);

/** A source [out, in] written to dest [in, out], the out index mapped through `perm`. */
const transposed =
  (dest: Float32Array, out: number, perm: (o: number) => number = (o) => o): Place =>
  (row, values) => {
    const col = perm(row);
    for (let i = 0; i < values.length; i++) dest[i * out + col] = values[i]!;
  };

/** A 1-D source written through `perm`. */
const permuted =
  (dest: Float32Array, perm: (o: number) => number): Place =>
  (_row, values) => {
    for (let o = 0; o < values.length; o++) dest[perm(o)] = values[o]!;
  };

/** Each source row is the concatenation of one row of every dest (GPT-2's c_attn: q | k | v). */
const split =
  (dests: Float32Array[]): Place =>
  (row, values) => {
    const width = values.length / dests.length;
    dests.forEach((d, j) => d.set(values.subarray(j * width, (j + 1) * width), row * width));
  };

/** rotate_half layout → pair layout within each head of size e. */
function ropePerm(e: number): (o: number) => number {
  const half = e / 2;
  return (o) => {
    const head = o - (o % e);
    const i = o % e;
    return head + (i < half ? 2 * i : 2 * (i - half) + 1);
  };
}

function llamaPlan(config: ModelConfig, params: Params): Map<string, Planned> {
  const { d, v, f, n, kv, e } = dimsOf(config);
  const dkv = kv * e;
  const rope = ropePerm(e);
  const plan = new Map<string, Planned>();
  const add = (name: string, shape: number[], place: Place): void => void plan.set(name, { shape, place });
  const p = (name: string): Float32Array => params[name]!;
  add('model.embed_tokens.weight', [v, d], copy(p('tok_emb')));
  for (let i = 0; i < n; i++) {
    const hf = `model.layers.${i}`;
    const ours = `blocks.${i}`;
    add(`${hf}.input_layernorm.weight`, [d], copy(p(`${ours}.ln1.weight`)));
    add(`${hf}.self_attn.q_proj.weight`, [d, d], transposed(p(`${ours}.attn.wq`), d, rope));
    add(`${hf}.self_attn.k_proj.weight`, [dkv, d], transposed(p(`${ours}.attn.wk`), dkv, rope));
    add(`${hf}.self_attn.v_proj.weight`, [dkv, d], transposed(p(`${ours}.attn.wv`), dkv));
    if (config.bias.qkv) {
      add(`${hf}.self_attn.q_proj.bias`, [d], permuted(p(`${ours}.attn.bq`), rope));
      add(`${hf}.self_attn.k_proj.bias`, [dkv], permuted(p(`${ours}.attn.bk`), rope));
      add(`${hf}.self_attn.v_proj.bias`, [dkv], copy(p(`${ours}.attn.bv`)));
    }
    add(`${hf}.self_attn.o_proj.weight`, [d, d], transposed(p(`${ours}.attn.wo`), d));
    if (config.bias.attnOut) add(`${hf}.self_attn.o_proj.bias`, [d], copy(p(`${ours}.attn.bo`)));
    add(`${hf}.post_attention_layernorm.weight`, [d], copy(p(`${ours}.ln2.weight`)));
    add(`${hf}.mlp.gate_proj.weight`, [f, d], transposed(p(`${ours}.mlp.wg`), f));
    add(`${hf}.mlp.up_proj.weight`, [f, d], transposed(p(`${ours}.mlp.w1`), f));
    add(`${hf}.mlp.down_proj.weight`, [d, f], transposed(p(`${ours}.mlp.w2`), d));
    if (config.bias.mlp) {
      add(`${hf}.mlp.gate_proj.bias`, [f], copy(p(`${ours}.mlp.bg`)));
      add(`${hf}.mlp.up_proj.bias`, [f], copy(p(`${ours}.mlp.b1`)));
      add(`${hf}.mlp.down_proj.bias`, [d], copy(p(`${ours}.mlp.b2`)));
    }
  }
  add('model.norm.weight', [d], copy(p('ln_f.weight')));
  if (!config.tiedHead) add('lm_head.weight', [v, d], transposed(p('lm_head'), v));
  return plan;
}

function gpt2Plan(config: ModelConfig, params: Params, prefix: string): Map<string, Planned> {
  const { d, v, f, n } = dimsOf(config);
  const plan = new Map<string, Planned>();
  const add = (name: string, shape: number[], place: Place): void =>
    void plan.set(`${prefix}${name}`, { shape, place });
  const p = (name: string): Float32Array => params[name]!;
  const norm = (hf: string, ours: string): void => {
    add(`${hf}.weight`, [d], copy(p(`${ours}.weight`)));
    add(`${hf}.bias`, [d], copy(p(`${ours}.bias`)));
  };
  add('wte.weight', [v, d], copy(p('tok_emb')));
  add('wpe.weight', [config.maxPositions!, d], copy(p('pos_emb')));
  for (let i = 0; i < n; i++) {
    const hf = `h.${i}`;
    const ours = `blocks.${i}`;
    norm(`${hf}.ln_1`, `${ours}.ln1`);
    const qkv = ['wq', 'wk', 'wv'].map((w) => p(`${ours}.attn.${w}`));
    add(`${hf}.attn.c_attn.weight`, [d, 3 * d], split(qkv));
    add(`${hf}.attn.c_attn.bias`, [3 * d], split(['bq', 'bk', 'bv'].map((b) => p(`${ours}.attn.${b}`))));
    add(`${hf}.attn.c_proj.weight`, [d, d], copy(p(`${ours}.attn.wo`)));
    add(`${hf}.attn.c_proj.bias`, [d], copy(p(`${ours}.attn.bo`)));
    norm(`${hf}.ln_2`, `${ours}.ln2`);
    add(`${hf}.mlp.c_fc.weight`, [d, f], copy(p(`${ours}.mlp.w1`)));
    add(`${hf}.mlp.c_fc.bias`, [f], copy(p(`${ours}.mlp.b1`)));
    add(`${hf}.mlp.c_proj.weight`, [f, d], copy(p(`${ours}.mlp.w2`)));
    add(`${hf}.mlp.c_proj.bias`, [d], copy(p(`${ours}.mlp.b2`)));
  }
  norm('ln_f', 'ln_f');
  // lm_head sits outside GPT2Model, so it never carries the transformer. prefix.
  if (!config.tiedHead) plan.set('lm_head.weight', { shape: [v, d], place: transposed(p('lm_head'), v) });
  return plan;
}

/**
 * Tensors some checkpoints carry that are not parameters: GPT-2's causal-mask buffers, old Llama saves'
 * rotary inv_freq (recomputed from rope_theta), and the LM head of a tied model (transformers ties it to
 * the embedding after loading, whatever the file holds).
 */
function isNonParameter(family: HfFamily, config: ModelConfig, name: string): boolean {
  if (config.tiedHead && name === 'lm_head.weight') return true;
  if (family === 'gpt2') return /(^|\.)h\.\d+\.attn\.(masked_)?bias$/.test(name);
  return /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/.test(name);
}

/**
 * Where the imported params go: fresh arrays by default, or views the caller owns (allocateBaseWeights
 * from performer/weights: straight into the base checkpoint's bytes). Every element is written.
 */
export type ParamAllocator = (config: ModelConfig) => Params;

function freshParams(config: ModelConfig): Params {
  return Object.fromEntries(
    Object.entries(paramShapes(config)).map(([name, shape]) => [
      name,
      new Float32Array(shape.reduce((a, b) => a * b, 1)),
    ]),
  );
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Our params from the tensors of every weights file of the folder. Everything is checked from the headers
 * before any data is read: each parameter present once with the implied shape and a float dtype, and
 * nothing else present but known non-parameters.
 */
export async function importWeights(
  model: HfModel,
  entries: readonly TensorEntry[],
  allocate: ParamAllocator = freshParams,
): Promise<Params> {
  const { family, config } = model;
  const byName = new Map<string, TensorEntry>();
  for (const t of entries) {
    const other = byName.get(t.name);
    if (other) throw new ShardIndexError(`tensor ${t.name} is in both ${other.file.name} and ${t.file.name}`);
    byName.set(t.name, t);
  }
  const params = allocate(config);
  const prefix = [...byName.keys()].some((name) => name.startsWith('transformer.')) ? 'transformer.' : '';
  const plan = family === 'gpt2' ? gpt2Plan(config, params, prefix) : llamaPlan(config, params);

  const work: Array<{ entry: TensorEntry; place: Place }> = [];
  for (const entry of byName.values()) {
    const planned = plan.get(entry.name);
    if (planned === undefined) {
      if (isNonParameter(family, config, entry.name)) continue;
      throw new UnexpectedTensorError(entry.name);
    }
    if (ELEMENT_BYTES[entry.dtype] === undefined) throw new UnsupportedDtypeError(entry.name, entry.dtype);
    if (!sameShape(entry.shape, planned.shape))
      throw new TensorShapeError(entry.name, planned.shape, entry.shape);
    work.push({ entry, place: planned.place });
  }
  for (const name of plan.keys()) if (!byName.has(name)) throw new MissingTensorError(name);

  // File order, so each file is read front to back.
  work.sort((a, b) => a.entry.file.name.localeCompare(b.entry.file.name) || a.entry.begin - b.entry.begin);
  const scratch = new Scratch();
  for (const { entry, place } of work) await streamTensor(entry, place, scratch);
  return params;
}

/** One reused read buffer and its fp32 conversion, grown only for a row longer than READ_BYTES. */
class Scratch {
  bytes = new Uint8Array(READ_BYTES);
  values = new Float32Array(READ_BYTES / 2);

  ensure(rowBytes: number, rowValues: number): void {
    if (this.bytes.length < rowBytes) this.bytes = new Uint8Array(rowBytes);
    if (this.values.length < rowValues) this.values = new Float32Array(rowValues);
  }
}

async function streamTensor(entry: TensorEntry, place: Place, scratch: Scratch): Promise<void> {
  const size = ELEMENT_BYTES[entry.dtype]!;
  const cols = entry.shape.length === 2 ? entry.shape[1]! : entry.shape.reduce((a, b) => a * b, 1);
  const rows = entry.shape.length === 2 ? entry.shape[0]! : 1;
  const rowBytes = cols * size;
  scratch.ensure(rowBytes, cols);
  const rowsPerRead = Math.max(
    1,
    Math.floor(Math.min(scratch.bytes.length / rowBytes, scratch.values.length / cols)),
  );
  for (let row = 0; row < rows; row += rowsPerRead) {
    const count = Math.min(rowsPerRead, rows - row);
    const bytes = scratch.bytes.subarray(0, count * rowBytes);
    await entry.file.read(bytes, entry.begin + row * rowBytes);
    const values = toF32(entry.dtype, bytes, scratch.values.subarray(0, count * cols));
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i]!)) throw new NonFiniteWeightError(entry.name);
    }
    for (let r = 0; r < count; r++) place(row + r, values.subarray(r * cols, (r + 1) * cols));
  }
}

/**
 * Little-endian file bytes → f32 in `out` (the scratch buffers start at offset 0, so the typed views are
 * aligned). bf16 is the top half of an f32, so widening is a shift; f16 goes through protocol's exact
 * half → float (subnormals, infinities, NaN).
 */
function toF32(dtype: string, bytes: Uint8Array, out: Float32Array): Float32Array {
  const n = out.length;
  if (dtype === 'F32') {
    out.set(new Float32Array(bytes.buffer, bytes.byteOffset, n));
    return out;
  }
  const bits = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
  if (dtype === 'F16') return f16BitsToF32(bits, out);
  const wide = new Uint32Array(out.buffer, out.byteOffset, n);
  for (let i = 0; i < n; i++) wide[i] = bits[i]! << 16;
  return out;
}
