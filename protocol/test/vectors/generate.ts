/**
 * Writes the golden vectors: `npx tsx --conditions=@slimswarm/source protocol/test/vectors/generate.ts`. Run it only on purpose, when the
 * format changes together with PROTOCOL_VERSION; vectors.test.ts fails until the files match again.
 */
import { writeFileSync } from 'node:fs';
import { sha256Hex } from '../../src/index.js';
import {
  encodeValidFrame,
  encodeValidSafetensors,
  rejectFrames,
  validFrames,
  validSafetensors,
} from './sources.js';

const folder = new URL('./', import.meta.url);
const index: { file: string; sha256: string; bytes: number }[] = [];

function write(file: string, bytes: Uint8Array): void {
  writeFileSync(new URL(file, folder), bytes);
  index.push({ file, sha256: sha256Hex(bytes), bytes: bytes.length });
}

const valid = new Map(validFrames.map((v) => [v.file, encodeValidFrame(v)]));
for (const [file, bytes] of valid) write(file, bytes);
for (const v of rejectFrames) write(v.file, v.make((file) => valid.get(file)!));
for (const v of validSafetensors) write(v.file, encodeValidSafetensors(v));
writeFileSync(new URL('index.json', folder), `${JSON.stringify(index, null, 2)}\n`);
console.log(`wrote ${index.length} vectors`);
