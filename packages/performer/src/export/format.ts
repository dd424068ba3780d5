// Legend: N layers, H heads, E head size, M random features, V vocab, D model, F mlp hidden.
/**
 * The exported model folder: self-contained, loadable by anyone without this code base.
 *
 *   model.safetensors   every parameter, f32, our names and shapes (matrices [in, out], applied x @ W)
 *   config.json         format, the ModelConfig, how to rebuild ω (seed, feature epoch, SHA-256 of ω),
 *                       the weight layout, the step graph's inputs and outputs, and each file's SHA-256
 *   tokenizer.json      the job's Hugging Face tokenizer.json as published, or the byte tokenizer, described
 *   tokenizer_config.json  with a Hugging Face tokenizer that has one: as published
 *   decoder_step.onnx   the one-token recurrent step (decode/graph.ts): token, position, state → logits,
 *                       stateOut, weights embedded, standard ONNX ops only
 *
 * The schemas here are what the loader checks (zod), so a folder that loads is one the format describes.
 */
import { ModelConfig } from '@slimswarm/protocol';
import { z } from 'zod';

export const EXPORT_FORMAT = 'slimswarm-performer-export';
export const EXPORT_VERSION = 2;

/** The four files of an exported folder. */
export const EXPORT_FILES = {
  weights: 'model.safetensors',
  config: 'config.json',
  tokenizer: 'tokenizer.json',
  stepGraph: 'decoder_step.onnx',
} as const;
export type ExportFileName = (typeof EXPORT_FILES)[keyof typeof EXPORT_FILES];

/** The fifth file, there when the job's Hugging Face tokenizer has a tokenizer_config.json. */
export const EXPORT_TOKENIZER_CONFIG = 'tokenizer_config.json';

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lower-case hex SHA-256');

const GraphValue = z
  .object({
    name: z.string(),
    dtype: z.enum(['int32', 'float32']),
    shape: z.array(z.number().int().min(1)),
    description: z.string(),
  })
  .strict();

export const ExportConfigJson = z
  .object({
    format: z.literal(EXPORT_FORMAT),
    version: z.literal(EXPORT_VERSION),
    name: z.string().optional(),
    description: z.string().optional(),
    architecture: z.string(),
    model: ModelConfig,
    features: z
      .object({
        seed: z.number().int(),
        epoch: z.number().int().min(0),
        /** SHA-256 of every layer's ω as little-endian f32 [M, E], layer after layer. */
        omegaSha256: Sha256,
        construction: z.string(),
      })
      .strict(),
    weights: z
      .object({
        file: z.literal(EXPORT_FILES.weights),
        sha256: Sha256,
        dtype: z.literal('F32'),
        layout: z.string(),
        tensors: z.record(z.string(), z.array(z.number().int().min(1))),
      })
      .strict(),
    tokenizer: z
      .object({
        file: z.literal(EXPORT_FILES.tokenizer),
        sha256: Sha256,
        /** 'hf': tokenizer.json is a Hugging Face tokenizer's; 'byte' (folders from before kinds): described. */
        kind: z.enum(['byte', 'hf']).default('byte'),
        config: z
          .object({ file: z.literal(EXPORT_TOKENIZER_CONFIG), sha256: Sha256 })
          .strict()
          .optional(),
      })
      .strict()
      .refine((t) => t.kind === 'hf' || t.config === undefined, {
        message: 'only a Hugging Face tokenizer has a tokenizer_config.json',
      }),
    decoderStep: z
      .object({
        file: z.literal(EXPORT_FILES.stepGraph),
        sha256: Sha256,
        opset: z.number().int().min(1),
        inputs: z.array(GraphValue),
        outputs: z.array(GraphValue),
        usage: z.string(),
      })
      .strict(),
    constants: z.object({ normEps: z.number(), attentionEps: z.number() }).strict(),
  })
  .strict();
export type ExportConfigJson = z.infer<typeof ExportConfigJson>;

export const TokenizerJson = z
  .object({
    kind: z.literal('byte'),
    /** Token ids 0..255 are the UTF-8 bytes of the text. */
    description: z.string(),
    /** The model's vocabulary size (ids ≥ 256, if any, are never produced by encoding). */
    vocabSize: z.number().int().min(1),
    /** How ids become text: the bytes decoded as UTF-8, invalid sequences as U+FFFD. */
    decode: z.literal('utf-8-replace'),
  })
  .strict();
export type TokenizerJson = z.infer<typeof TokenizerJson>;
