/** The default job as a bench runs it: its manifest (as the coordinator builds it), base and SLiM engine. */
import { readFile } from 'node:fs/promises';
import { DEFAULT_BASE_PATH, defaultManifest } from '@slimswarm/default-job/job';
import { createSlimEngine, type Params } from '@slimswarm/performer';
import { decodeSafetensors, sha256Hex, shapeElements, tensorToF32 } from '@slimswarm/protocol';

/** The default job's model, its base weights and the manifest naming them (as the coordinator builds it). */
export async function jobModel(threads: number) {
  const bytes = new Uint8Array(await readFile(DEFAULT_BASE_PATH));
  const { tensors } = decodeSafetensors(bytes);
  const base: Params = Object.fromEntries(Object.entries(tensors).map(([n, t]) => [n, tensorToF32(t)]));
  const params = Object.values(tensors).reduce((sum, t) => sum + shapeElements(t.shape), 0);
  // The key only names the job; nothing is signed here.
  const manifest = defaultManifest(
    { sha256: sha256Hex(bytes), bytes: bytes.byteLength, params },
    '0'.repeat(64),
  );
  const engine = await createSlimEngine(manifest.model, {
    chunk: manifest.training.chunkSize,
    threads,
    backend: 'wasm',
  });
  return { manifest, model: { config: manifest.model, engine, base } };
}
