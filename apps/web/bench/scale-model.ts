/**
 * The model folder of the scale check (issue #14 item 6): SmolLM2-135M's shapes in the Hugging Face layout
 * (config.json, one BF16 model.safetensors as SmolLM2 ships, the fixture tokenizer), random weights made
 * by hf-import's fixture tooling — no download. `--quick` gets a Llama-family model small enough for
 * seconds. Written once into the cache folder and reused while its weights file is there (the name carries the
 * shapes).
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { hfFixture, writeHfFixture } from '@slimswarm/hf-import/fixtures';

/** config.json keys of SmolLM2-135M (its published config, sizes only; the fixture adds the rest). */
const SMOLLM2_135M = {
  hidden_size: 576,
  num_hidden_layers: 30,
  num_attention_heads: 9,
  num_key_value_heads: 3,
  head_dim: 64,
  intermediate_size: 1536,
  vocab_size: 49_152,
  rms_norm_eps: 1e-5,
  rope_theta: 100_000,
  tie_word_embeddings: true,
  max_position_embeddings: 8192,
};

/** A small Llama for --quick: the same code paths, seconds per step. */
const QUICK = {
  hidden_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 16,
  intermediate_size: 160,
  vocab_size: 512,
  tie_word_embeddings: true,
  max_position_embeddings: 8192,
};

export interface ScaleModel {
  name: string;
  dir: string;
  /** Bytes of the folder's weights file. */
  weightBytes: number;
}

export async function scaleModel(cacheDir: string, quick: boolean): Promise<ScaleModel> {
  const name = quick ? 'llama-quick-shapes' : 'SmolLM2-135M-shapes';
  const dir = join(cacheDir, name);
  const weights = join(dir, 'model.safetensors');
  const existing = await stat(weights).catch(() => null);
  if (!existing) {
    const fixture = hfFixture('llama', { dtype: 'BF16', seed: 135, config: quick ? QUICK : SMOLLM2_135M });
    await writeHfFixture(dir, fixture);
  }
  return { name, dir, weightBytes: (await stat(weights)).size };
}
