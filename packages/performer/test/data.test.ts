import { openAsBlob } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ByteTokenizer, blobSource, isHeldOut, streamSequences } from '../src/data/index.js';
import type { ByteSource, SequenceOptions, TextSequence } from '../src/data/index.js';
import { fileSource } from '../src/data/node.js';

async function collect(source: ByteSource, options: SequenceOptions): Promise<TextSequence[]> {
  const out: TextSequence[] = [];
  for await (const s of streamSequences(source, options)) out.push(s);
  return out;
}

/** The bytes handed out in pieces of the given sizes (cycled), to put chunk borders everywhere. */
function pieces(bytes: Uint8Array, sizes: number[]): ByteSource {
  return async function* () {
    for (let at = 0, k = 0; at < bytes.length; k++) {
      const size = sizes[k % sizes.length]!;
      yield bytes.subarray(at, at + size);
      at += size;
    }
  };
}

const text = Uint8Array.from({ length: 103 }, (_, i) => (i * 7) % 256);

describe('ByteTokenizer', () => {
  const tok = new ByteTokenizer();

  it('round-trips text through its UTF-8 bytes', () => {
    const s = 'héllo ✓ 🙂 wörld';
    const ids = tok.encode(s);
    expect([...ids]).toEqual([...new TextEncoder().encode(s)]);
    expect(ids.every((id) => id >= 0 && id < 256)).toBe(true);
    expect(tok.decode(ids)).toBe(s);
  });

  it('decodes a cut character to U+FFFD and refuses non-byte ids', () => {
    const ids = tok.encode('✓');
    expect(tok.decode(ids.subarray(0, 2))).toBe('\uFFFD');
    expect(() => tok.decode([65, 256])).toThrow(
      expect.objectContaining({ name: 'InvalidTokenIdError', index: 1 }),
    );
    expect(() => tok.decode([1.5])).toThrow(expect.objectContaining({ name: 'InvalidTokenIdError' }));
  });
});

describe('streamSequences', () => {
  it('yields L + 1 ids with stride L, whatever the chunk borders, and drops the short tail', async () => {
    const L = 10;
    const want = Array.from({ length: Math.floor((text.length - 1) / L) }, (_, i) => [
      ...text.subarray(i * L, i * L + L + 1),
    ]);
    expect(want).toHaveLength(10);
    for (const sizes of [[1], [3], [L + 1], [7, 1, 25], [1000]]) {
      const got = await collect(pieces(text, sizes), { seqLen: L });
      expect(got.map((s) => [...s.tokens])).toEqual(want);
      expect(got.map((s) => s.index)).toEqual(want.map((_, i) => i));
    }
  });

  it('handles L = 1 and a text of exactly L + 1 bytes', async () => {
    const ones = await collect(pieces(text.subarray(0, 4), [2]), { seqLen: 1 });
    expect(ones.map((s) => [...s.tokens])).toEqual([
      [text[0], text[1]],
      [text[1], text[2]],
      [text[2], text[3]],
    ]);
    expect(await collect(pieces(text.subarray(0, 6), [4]), { seqLen: 5 })).toHaveLength(1);
    expect(await collect(pieces(text.subarray(0, 5), [4]), { seqLen: 5 })).toHaveLength(0);
  });

  it('cycles for the given number of epochs, and refuses to cycle a text too short for one sequence', async () => {
    const got = await collect(pieces(text, [9]), { seqLen: 10, epochs: 3 });
    expect(got).toHaveLength(30);
    expect(got.map((s) => s.epoch)).toEqual([
      ...Array(10).fill(0),
      ...Array(10).fill(1),
      ...Array(10).fill(2),
    ]);
    expect(got[20]!.tokens).toEqual(got[0]!.tokens);
    await expect(collect(pieces(text.subarray(0, 10), [4]), { seqLen: 10, epochs: 2 })).rejects.toMatchObject(
      {
        name: 'SourceTooShortError',
      },
    );
    let endless = 0;
    for await (const _ of streamSequences(pieces(text, [50]), { seqLen: 10, epochs: Infinity }))
      if (++endless === 55) break;
    expect(endless).toBe(55);
  });

  it('shuffles deterministically per seed into a permutation, within the buffer window', async () => {
    const big = Uint8Array.from({ length: 2001 }, (_, i) => i % 251);
    const plain = await collect(pieces(big, [64]), { seqLen: 10 });
    const a = await collect(pieces(big, [64]), { seqLen: 10, shuffle: { bufferSize: 16, seed: 1 } });
    const b = await collect(pieces(big, [64]), { seqLen: 10, shuffle: { bufferSize: 16, seed: 1 } });
    const c = await collect(pieces(big, [64]), { seqLen: 10, shuffle: { bufferSize: 16, seed: 2 } });
    const order = (xs: TextSequence[]) => xs.map((s) => s.index);
    expect(order(a)).toEqual(order(b));
    expect(order(a)).not.toEqual(order(c));
    expect(order(a)).not.toEqual(order(plain));
    expect([...order(a)].sort((x, y) => x - y)).toEqual(order(plain));
    for (const s of a) expect(s.tokens).toEqual(plain[s.index]!.tokens);
    // a sequence is yielded only once bufferSize later ones have been read, so it never moves earlier than that
    a.forEach((s, position) => expect(s.index).toBeLessThanOrEqual(position + 16));
  });

  it('splits train and held-out by sequence index: disjoint, complete, stable across epochs', async () => {
    const big = Uint8Array.from({ length: 10_001 }, (_, i) => (i * 31) % 256);
    const split = { heldOutFraction: 0.1, seed: 5 };
    const train = await collect(pieces(big, [512]), {
      seqLen: 10,
      epochs: 2,
      split: { ...split, take: 'train' },
    });
    const held = await collect(pieces(big, [512]), {
      seqLen: 10,
      epochs: 2,
      split: { ...split, take: 'heldout' },
    });
    const epoch0 = (xs: TextSequence[]) => xs.filter((s) => s.epoch === 0).map((s) => s.index);
    const epoch1 = (xs: TextSequence[]) => xs.filter((s) => s.epoch === 1).map((s) => s.index);
    expect(epoch1(held)).toEqual(epoch0(held));
    expect([...epoch0(train), ...epoch0(held)].sort((x, y) => x - y)).toEqual([...Array(1000).keys()]);
    expect(epoch0(held).length).toBeGreaterThan(60);
    expect(epoch0(held).length).toBeLessThan(140);
    for (const i of epoch0(held)) expect(isHeldOut(i, 0.1, 5)).toBe(true);
    expect(isHeldOut(3, 0, 5)).toBe(false);
    expect(isHeldOut(3, 1, 5)).toBe(true);
  });

  it('rejects invalid options with DataOptionsError', async () => {
    await expect(collect(pieces(text, [4]), { seqLen: 0 })).rejects.toMatchObject({
      name: 'DataOptionsError',
    });
    await expect(collect(pieces(text, [4]), { seqLen: 4, epochs: 1.5 })).rejects.toMatchObject({
      name: 'DataOptionsError',
    });
    await expect(
      collect(pieces(text, [4]), { seqLen: 4, shuffle: { bufferSize: 0, seed: 1 } }),
    ).rejects.toMatchObject({ name: 'DataOptionsError' });
  });
});

describe('streaming memory stays flat in the size of the text', () => {
  const L = 1024;
  const fileBytes = 6 * 1024 * 1024 + 123;
  const chunkBytes = 64 * 1024;
  let dir = '';
  let path = '';
  let content: Uint8Array;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'performer-data-'));
    path = join(dir, 'corpus.txt');
    content = Uint8Array.from({ length: fileBytes }, (_, i) => (i * 2654435761) >>> 24);
    await writeFile(path, content);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * Counts what the source hands out and checks, at every sequence, that it has pulled at most one chunk
   * more than the sequences yielded so far consumed: nothing reads ahead, nothing accumulates.
   */
  async function checkFlat(source: ByteSource, maxChunk: number): Promise<void> {
    let pulled = 0;
    let largestChunk = 0;
    const counted: ByteSource = async function* () {
      for await (const chunk of source()) {
        pulled += chunk.length;
        largestChunk = Math.max(largestChunk, chunk.length);
        yield chunk;
      }
    };
    let count = 0;
    let mismatches = 0;
    for await (const s of streamSequences(counted, { seqLen: L })) {
      const consumed = (count + 1) * L + 1;
      expect(pulled - consumed).toBeLessThan(largestChunk);
      expect(s.tokens.length).toBe(L + 1);
      // spot-check content against the file without holding a second copy per sequence
      if (s.tokens[0] !== content[count * L] || s.tokens[L] !== content[count * L + L]) mismatches++;
      count++;
    }
    expect(largestChunk).toBeLessThanOrEqual(maxChunk);
    expect(mismatches).toBe(0);
    expect(count).toBe(Math.floor((fileBytes - 1) / L));
    expect(pulled).toBe(fileBytes);
  }

  it('from a file, through fs streams in bounded chunks', async () => {
    await checkFlat(fileSource(path, chunkBytes), chunkBytes);
  });

  it('from a Blob, in memory or backed by the file, by slices', async () => {
    await checkFlat(blobSource(new Blob([content]), chunkBytes), chunkBytes);
    await checkFlat(blobSource(await openAsBlob(path), 100_000), 100_000);
  });

  it('refuses a chunk size that is not a positive integer', () => {
    expect(() => fileSource(path, 0)).toThrow(expect.objectContaining({ name: 'DataOptionsError' }));
    expect(() => blobSource(new Blob([]), 1.5)).toThrow(
      expect.objectContaining({ name: 'DataOptionsError' }),
    );
  });

  it('stops reading when the consumer stops', async () => {
    let pulled = 0;
    const source = fileSource(path, chunkBytes);
    const counted: ByteSource = async function* () {
      for await (const chunk of source()) {
        pulled += chunk.length;
        yield chunk;
      }
    };
    let count = 0;
    for await (const _ of streamSequences(counted, { seqLen: L })) if (++count === 3) break;
    expect(pulled).toBe(chunkBytes);
  });
});
