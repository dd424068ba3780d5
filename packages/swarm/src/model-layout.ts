/**
 * The swarm moves tensors without knowing the model: a model is a set of named f32 tensors. Internally
 * every tensor lives in one flat Float32Array (P values) laid out in name order, so codecs, aggregation
 * and the outer optimiser work on plain vectors and every peer walks the coordinates in the same order.
 */
import { ModelLayoutError } from './errors.js';

/** Named f32 tensors: what a trainer reads and returns. */
export type Weights = Record<string, Float32Array>;

export interface TensorShape {
  name: string;
  shape: number[];
  /** Offset of the tensor's first value in the flat vector. */
  offset: number;
  size: number;
}

/** Names (sorted by code unit), shapes and offsets of the model's tensors in the flat vector. */
export class ModelLayout {
  readonly tensors: readonly TensorShape[];
  /** Total number of parameters P. */
  readonly size: number;

  constructor(shapes: Record<string, readonly number[]>) {
    const names = Object.keys(shapes).sort(compareCodeUnits);
    if (names.length === 0) throw new ModelLayoutError('a model needs at least one tensor');
    let offset = 0;
    this.tensors = names.map((name) => {
      const shape = [...(shapes[name] ?? [])];
      if (shape.some((d) => !Number.isSafeInteger(d) || d < 1)) {
        throw new ModelLayoutError(`tensor ${name} has an invalid shape [${shape.join(', ')}]`);
      }
      const size = shape.reduce((a, b) => a * b, 1);
      const t = { name, shape, offset, size };
      offset += size;
      return t;
    });
    this.size = offset;
  }

  static fromWeights(weights: Weights, shapes?: Record<string, readonly number[]>): ModelLayout {
    const s: Record<string, readonly number[]> = {};
    for (const [name, w] of Object.entries(weights)) s[name] = shapes?.[name] ?? [w.length];
    return new ModelLayout(s);
  }

  /** Copies named tensors into one flat vector (P); throws if names or sizes differ from the layout. */
  flatten(weights: Readonly<Weights>): Float32Array {
    const names = Object.keys(weights);
    if (names.length !== this.tensors.length) {
      throw new ModelLayoutError(`expected ${this.tensors.length} tensors, got ${names.length}`);
    }
    const flat = new Float32Array(this.size); // [P]
    for (const t of this.tensors) {
      const w = weights[t.name];
      if (!(w instanceof Float32Array)) throw new ModelLayoutError(`missing f32 tensor ${t.name}`);
      if (w.length !== t.size)
        throw new ModelLayoutError(`tensor ${t.name}: expected ${t.size} values, got ${w.length}`);
      flat.set(w, t.offset);
    }
    return flat;
  }

  /** Named views into a flat vector (no copy). */
  view(flat: Float32Array): Weights {
    if (flat.length !== this.size)
      throw new ModelLayoutError(`expected ${this.size} values, got ${flat.length}`);
    const out: Weights = {};
    for (const t of this.tensors) out[t.name] = flat.subarray(t.offset, t.offset + t.size);
    return out;
  }

  shapes(): Record<string, number[]> {
    return Object.fromEntries(this.tensors.map((t) => [t.name, [...t.shape]]));
  }
}

/** Locale-independent string order, identical on every peer. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sum of squares accumulated in f64 in index order, so every peer gets the same bits. */
export function l2Norm(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    s += x * x;
  }
  return Math.sqrt(s);
}

export function allFinite(v: Float32Array): boolean {
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) return false;
  return true;
}
