/**
 * Runs the chunk graphs (graphs.ts) with onnxruntime-web: one InferenceSession per graph kind, created
 * once and reused, fixed chunk shapes (a short last chunk is padded and masked) so the wasm heap stops
 * growing after the first chunk. This is the lower level the engines are built from; `forwardRange`
 * carries states across any token range, which is what split-and-resume needs.
 */
import * as ort from 'onnxruntime-web';
import type { ModelConfig } from '../model/config.js';
import { dimsOf } from '../model/config.js';
import type { LayerFeatures } from '../model/features.js';
import type { LoraConfig, LoraFrozen } from '../model/lora.js';
import type { Params } from '../model/params.js';
import type { ChunkGraphKind, FrozenSource, ParamSlot } from './graphs.js';
import {
  buildChunkGraph,
  buildResidentGraph,
  chunkLayouts,
  frozenInputName,
  stateShape,
  stateSize,
} from './graphs.js';
import { InvalidStateError } from './errors.js';
import {
  InvalidTokensError,
  checkEngineInputs,
  checkModelInputs,
  checkParams,
  checkPositions,
  checkTokenIds,
} from '../model/inputs.js';

export type Backend = 'wasm' | 'webgpu';

/** A sequence checked and flattened once per call, shared by all its chunks. */
export interface PreparedSequence {
  /** L + 1 token ids. */
  tokens: Int32Array;
  /** [P] every parameter, paramShapes order (with LoRA: the trainable adapters). */
  params: Float32Array;
  /** [N, M·E + 1] ω and key stabiliser per layer. */
  features: Float32Array;
}

/** The model half of a PreparedSequence: what a decoder prepares once for all its prompts. */
export type PreparedModel = Omit<PreparedSequence, 'tokens'>;

export interface ChunkLogits {
  /** [count, V] next-token logits of the run's real tokens (padding rows dropped). */
  logits: Float32Array;
  /** The states after the run's last real token. */
  stateOut: Float32Array;
}

export interface ChunkForward {
  /** Σ lossScale · CE over the chunk's predictions. */
  loss: number;
  stateOut: Float32Array;
}

export interface ChunkBackward {
  loss: number;
  /** [P] ∂J/∂params of this chunk's surrogate. */
  grads: Float32Array;
  stateGradIn: Float32Array;
  /** The state that entered the chunk: given, or rebuilt as S_out − Δ in fp64. */
  stateIn: Float64Array;
}

/**
 * The state a backward chunk starts from: S_in itself, or S_out to subtract the chunk from. Carried in
 * fp64 between chunks (rounded to fp32 for each run), so rebuilding by subtraction does not accumulate
 * one fp32 rounding per chunk.
 */
export type BackwardState =
  { kind: 'given'; stateIn: Float64Array } | { kind: 'subtract'; stateOut: Float64Array };

/** Sets the wasm thread count; onnxruntime reads it once, when the first session is created. */
export function configureThreads(threads: number | undefined): void {
  const available = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency;
  ort.env.wasm.numThreads = threads ?? available ?? 1;
}

/**
 * Where a LoRA job's frozen tensors live unless the caller says otherwise: resident on wasm, fed on
 * WebGPU (the resident graph's If nodes and external initializers are untried there). The one rule: the
 * engine host reads it too, to know whether the engine still needs the caller's arrays.
 */
export function defaultFrozenSource(backend: Backend): FrozenSource {
  return backend === 'wasm' ? 'resident' : 'inputs';
}

/** The kinds one resident session serves: all of them, so the frozen base sits in the heap once. */
const RESIDENT_KINDS: readonly ChunkGraphKind[] = ['states', 'given', 'subtract', 'forward', 'logits'];

export class ChunkRunner {
  readonly stateSize: number;
  readonly paramCount: number;
  /** Where each tensor of `params` (and of the gradients) sits in the flat input. */
  readonly slots: ParamSlot[];
  /** LoRA's frozen tensors: fed to every run ('inputs') or made initializers of one session ('resident'). */
  readonly frozenSource: FrozenSource | undefined;
  /** 'inputs': the frozen base and A, one tensor each over the caller's arrays (no copy), fed to every run. */
  private readonly frozen: Record<string, ort.Tensor> = {};
  /**
   * 'resident': the same arrays as the externalData of the resident session, dropped once it exists (the
   * session holds its own copy), so the caller's arrays can then be freed.
   */
  private externalData: { path: string; data: Uint8Array }[] | undefined;
  private readonly sessions = new Map<ChunkGraphKind, Promise<ort.InferenceSession>>();
  private readonly zeroState: ort.Tensor;
  private readonly loraConfig: LoraConfig | undefined;
  private readonly dims;
  private readonly stateShape: number[];
  /** θ_p for p < E/2, in fp64. */
  private readonly frequencies: Float64Array;
  runs = 0;

  /**
   * With LoRA the frozen tensors are resident by default on wasm: one copy in the heap, made when the
   * session is created, instead of the caller's arrays plus a heap copy made by every run. The arrays are
   * read until the first run or createSessions resolves, never after. WebGPU keeps feeding them: the
   * resident graph (If nodes, external initializers) is untried on that backend.
   */
  constructor(
    private readonly config: ModelConfig,
    readonly chunk: number,
    private readonly backend: Backend,
    lora?: LoraFrozen,
    frozenSource: FrozenSource = defaultFrozenSource(backend),
  ) {
    this.dims = dimsOf(config);
    const layouts = chunkLayouts(config, lora?.lora);
    this.slots = layouts.params.slots;
    this.paramCount = layouts.params.total;
    // Only the config is kept: on the resident path the frozen arrays must not outlive session creation.
    this.loraConfig = lora?.lora;
    this.frozenSource = lora ? frozenSource : undefined;
    if (lora) {
      const { slots } = layouts.frozen!;
      checkParams(config, lora.frozen, Object.fromEntries(slots.map((s) => [s.name, s.shape])));
      if (frozenSource === 'resident') {
        this.externalData = slots.map((slot) => {
          const array = lora.frozen[slot.name]!;
          return {
            path: frozenInputName(slot.name),
            data: new Uint8Array(array.buffer, array.byteOffset, array.byteLength),
          };
        });
      } else {
        for (const slot of slots) {
          this.frozen[frozenInputName(slot.name)] = new ort.Tensor(
            'float32',
            lora.frozen[slot.name]!,
            slot.shape,
          );
        }
      }
    }
    this.stateSize = stateSize(config);
    this.stateShape = stateShape(config);
    this.zeroState = new ort.Tensor('float32', new Float32Array(this.stateSize), this.stateShape);
    const { e } = this.dims;
    this.frequencies = Float64Array.from({ length: e / 2 }, (_, p) => config.ropeBase ** ((-2 * p) / e));
  }

  private session(kind: ChunkGraphKind): Promise<ort.InferenceSession> {
    let made = this.sessions.get(kind);
    if (made) return made;
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: [this.backend],
      graphOptimizationLevel: 'all',
    };
    if (this.frozenSource === 'resident') {
      const externalData = this.externalData!;
      made = ort.InferenceSession.create(
        buildResidentGraph(this.config, this.chunk, RESIDENT_KINDS, this.loraConfig!),
        // Prepacking would keep a packed copy of every constant MatMul/Gemm weight beside the original.
        { ...options, externalData, extra: { session: { disable_prepacking: '1' } } },
      );
      void made.then(
        () => (this.externalData = undefined),
        () => undefined,
      );
      for (const k of RESIDENT_KINDS) this.sessions.set(k, made);
    } else {
      made = ort.InferenceSession.create(
        buildChunkGraph(this.config, this.chunk, kind, this.loraConfig),
        options,
      );
      this.sessions.set(kind, made);
    }
    return made;
  }

  /** Inputs only the resident graph has: which kind runs, and a state gradient for every kind. */
  private residentFeeds(kind: ChunkGraphKind): Record<string, ort.Tensor> {
    if (this.frozenSource !== 'resident') return {};
    const feeds: Record<string, ort.Tensor> = {
      kind: new ort.Tensor('int32', Int32Array.of(RESIDENT_KINDS.indexOf(kind)), []),
    };
    if (kind !== 'given' && kind !== 'subtract') feeds.stateGradOut = this.zeroState;
    return feeds;
  }

  /** Creates the sessions of these graph kinds now rather than on first use. */
  async createSessions(kinds: readonly ChunkGraphKind[]): Promise<void> {
    await Promise.all(kinds.map((kind) => this.session(kind)));
  }

  /** Validates a call's inputs and flattens them for the graphs. */
  prepare(params: Params, tokens: Int32Array, features: readonly LayerFeatures[]): PreparedSequence {
    checkEngineInputs(this.config, params, tokens, features, this.shapes());
    return { tokens, ...this.flatten(params, features) };
  }

  /** Validates parameters and features and flattens them, for logits runs over any token ids. */
  prepareModel(params: Params, features: readonly LayerFeatures[]): PreparedModel {
    checkModelInputs(this.config, params, features, this.shapes());
    return this.flatten(params, features);
  }

  private shapes(): Record<string, number[]> {
    return Object.fromEntries(this.slots.map((slot) => [slot.name, slot.shape]));
  }

  private flatten(params: Params, features: readonly LayerFeatures[]): PreparedModel {
    const { n, m, e } = this.dims;
    const flat = new Float32Array(this.paramCount);
    for (const slot of this.slots) flat.set(params[slot.name]!, slot.offset);
    const row = m * e + 1;
    const packed = new Float32Array(n * row);
    features.forEach((layer, i) => {
      packed.set(layer.omega, i * row);
      packed[i * row + m * e] = layer.keyStabiliser;
    });
    return { params: flat, features: packed };
  }

  /** Feeds for tokens [start, end) of the sequence, end − start ≤ C (the rest is padding). */
  private feeds(
    seq: PreparedSequence,
    start: number,
    end: number,
    lossScale: number,
    positionOffset = 0,
  ): Record<string, ort.Tensor> {
    const c = this.chunk;
    const { n, m, e } = this.dims;
    const count = end - start;
    checkPositions(this.config, positionOffset + start, count);
    const ids = new Int32Array(2 * c); // [2, C]
    const weights = new Float32Array(2 * c); // [2, C]
    for (let j = 0; j < count; j++) {
      ids[j] = seq.tokens[start + j]!;
      // A logits run has no targets past the last input; row 1 is not read then.
      ids[c + j] = seq.tokens[start + j + 1] ?? 0;
      weights[j] = 1;
      weights[c + j] = lossScale;
    }
    return {
      params: new ort.Tensor('float32', seq.params, [this.paramCount]),
      tokens: new ort.Tensor('int32', ids, [2, c]),
      weights: new ort.Tensor('float32', weights, [2, c]),
      ...this.positionFeed(positionOffset + start, count),
      features: new ort.Tensor('float32', seq.features, [n, m * e + 1]),
      ...this.frozen,
    };
  }

  /** The chunk's absolute positions first..first+count−1 as the config's positions input. */
  private positionFeed(first: number, count: number): Record<string, ort.Tensor> {
    const c = this.chunk;
    if (this.config.positions === 'learned') {
      const positions = new Int32Array(c); // [C], padding rows read row 0
      for (let j = 0; j < count; j++) positions[j] = first + j;
      return { positions: new ort.Tensor('int32', positions, [c]) };
    }
    const { e } = this.dims;
    const rope = new Float32Array(2 * c * e); // [2, C, E]
    for (let j = 0; j < count; j++) {
      const t = first + j;
      for (let p = 0; p < e / 2; p++) {
        const angle = t * this.frequencies[p]!;
        const cos = Math.cos(angle);
        const sin = Math.sin(angle);
        rope[j * e + 2 * p] = rope[j * e + 2 * p + 1] = cos;
        rope[(c + j) * e + 2 * p] = rope[(c + j) * e + 2 * p + 1] = sin;
      }
    }
    return { rope: new ort.Tensor('float32', rope, [2, c, e]) };
  }

  /** A state (fp64 ones rounded to fp32) as a graph input. */
  private stateTensor(state: Float32Array | Float64Array): ort.Tensor {
    if (state.length !== this.stateSize) {
      throw new InvalidStateError(`state must hold ${this.stateSize} values, got ${state.length}`);
    }
    const data = state instanceof Float32Array ? state : Float32Array.from(state);
    return new ort.Tensor('float32', data, this.stateShape);
  }

  private checkRange(seq: PreparedSequence, start: number, end: number): void {
    const length = seq.tokens.length - 1;
    if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start < end && end <= length)) {
      throw new InvalidTokensError(`token range [${start}, ${end}) outside [0, ${length})`);
    }
  }

  async forward(
    seq: PreparedSequence,
    start: number,
    end: number,
    stateIn: Float32Array,
    lossScale: number,
  ): Promise<ChunkForward> {
    this.checkRange(seq, start, end);
    if (end - start > this.chunk) throw new InvalidTokensError(`chunk of ${end - start} > ${this.chunk}`);
    const session = await this.session('forward');
    const out = await session.run({
      ...this.feeds(seq, start, end, lossScale),
      ...this.residentFeeds('forward'),
      state: this.stateTensor(stateIn),
    });
    this.runs++;
    return { loss: (out.loss!.data as Float32Array)[0]!, stateOut: out.stateOut!.data as Float32Array };
  }

  /**
   * Next-token logits of tokens[start, end) (end − start ≤ C; any ids, no targets) from the states before
   * them, and the states after them: one run of the 'logits' graph, the decoder's prefill. tokens[0] sits
   * at absolute position `positionOffset` (RoPE): a prompt may continue a sequence.
   */
  async logits(
    model: PreparedModel,
    tokens: Int32Array,
    start: number,
    end: number,
    stateIn: Float32Array,
    positionOffset = 0,
  ): Promise<ChunkLogits> {
    checkTokenIds(this.config, tokens);
    if (!(
      Number.isInteger(start) &&
      Number.isInteger(end) &&
      start >= 0 &&
      start < end &&
      end <= tokens.length
    )) {
      throw new InvalidTokensError(`token range [${start}, ${end}) outside [0, ${tokens.length})`);
    }
    if (end - start > this.chunk) throw new InvalidTokensError(`chunk of ${end - start} > ${this.chunk}`);
    const session = await this.session('logits');
    const out = await session.run({
      ...this.feeds({ ...model, tokens }, start, end, 0, positionOffset),
      ...this.residentFeeds('logits'),
      state: this.stateTensor(stateIn),
    });
    this.runs++;
    const all = out.logits!.data as Float32Array;
    const count = end - start;
    return {
      logits: count === this.chunk ? all : all.slice(0, count * this.dims.v),
      stateOut: out.stateOut!.data as Float32Array,
    };
  }

  /**
   * States after tokens [start, end) from the states before them, S_in + Δ summed in fp64 (no loss: the
   * cheapest forward).
   */
  async advance(
    seq: PreparedSequence,
    start: number,
    end: number,
    stateIn: Float64Array,
  ): Promise<Float64Array> {
    this.checkRange(seq, start, end);
    if (end - start > this.chunk) throw new InvalidTokensError(`chunk of ${end - start} > ${this.chunk}`);
    const session = await this.session('states');
    const out = await session.run({
      ...this.feeds(seq, start, end, 0),
      ...this.residentFeeds('states'),
      state: this.stateTensor(stateIn),
    });
    this.runs++;
    const contribution = out.contribution!.data as Float32Array;
    return stateIn.map((s, i) => s + contribution[i]!);
  }

  async backward(
    seq: PreparedSequence,
    start: number,
    end: number,
    state: BackwardState,
    stateGradOut: Float32Array,
    lossScale: number,
  ): Promise<ChunkBackward> {
    this.checkRange(seq, start, end);
    if (end - start > this.chunk) throw new InvalidTokensError(`chunk of ${end - start} > ${this.chunk}`);
    const session = await this.session(state.kind);
    const out = await session.run({
      ...this.feeds(seq, start, end, lossScale),
      ...this.residentFeeds(state.kind),
      state: this.stateTensor(state.kind === 'given' ? state.stateIn : state.stateOut),
      stateGradOut: this.stateTensor(stateGradOut),
    });
    this.runs++;
    let stateIn: Float64Array;
    if (state.kind === 'given') stateIn = state.stateIn;
    else {
      const contribution = out.contribution!.data as Float32Array;
      stateIn = state.stateOut.map((s, i) => s - contribution[i]!);
    }
    return {
      loss: (out.loss!.data as Float32Array)[0]!,
      grads: out.grads!.data as Float32Array,
      stateGradIn: out.stateGradIn!.data as Float32Array,
      stateIn,
    };
  }

  /**
   * Forward over tokens [start, end) in chunks of C from `state` (zeros when omitted: the sequence start).
   * Returns Σ lossScale·CE over those predictions and the states after token end − 1.
   */
  async forwardRange(
    seq: PreparedSequence,
    start: number,
    end: number,
    state: Float32Array | undefined,
    lossScale: number,
  ): Promise<ChunkForward> {
    this.checkRange(seq, start, end);
    let current = state ?? new Float32Array(this.stateSize);
    let loss = 0;
    for (let s = start; s < end; s += this.chunk) {
      const step = await this.forward(seq, s, Math.min(s + this.chunk, end), current, lossScale);
      loss += step.loss;
      current = step.stateOut;
    }
    return { loss, stateOut: current };
  }

  async dispose(): Promise<void> {
    const sessions = [...new Set(this.sessions.values())];
    this.sessions.clear();
    await Promise.all(sessions.map(async (s) => (await s).release()));
  }
}
