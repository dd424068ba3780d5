import { ByteTokenizer, type ByteSource } from '@slimswarm/performer';
import { scrubPii } from '@slimswarm/privacy';
import { describe, expect, it } from 'vitest';
import {
  localTrainingSequences,
  MAX_SCRUB_PIECE_CHARS,
  scrubbedSource,
  type ScrubReport,
} from '../src/index.js';

const encoder = new TextEncoder();

/** `text` as a byte source cut into chunks of `size` bytes (so PII and UTF-8 characters straddle chunks). */
function chunked(text: string, size: number): ByteSource {
  const bytes = encoder.encode(text);
  return async function* () {
    for (let at = 0; at < bytes.length; at += size) yield bytes.slice(at, at + size);
  };
}

async function readAll(source: ByteSource): Promise<string> {
  const parts: Uint8Array[] = [];
  for await (const chunk of source()) parts.push(chunk);
  return new TextDecoder().decode(Buffer.concat(parts));
}

const TEXT = [
  'Write to alice.smith@example.org about the café — or call +44 20 7946 0958.',
  'The server at 192.168.1.254 holds key AKIAIOSFODNN7EXAMPLE; ping bob_99@mail-server.org too.',
  'Nothing personal on this line, just prose and the number 42.',
  '',
].join('\n');

describe('scrubbedSource', () => {
  it.each([1, 3, 7, 64, 1 << 16])(
    'scrubs the text as a whole would be, whatever the chunking (%i-byte chunks)',
    async (size) => {
      const reports: ScrubReport[] = [];
      const out = await readAll(scrubbedSource(chunked(TEXT, size), (r) => reports.push(r)));
      expect(out).toBe(scrubPii(TEXT).text);
      expect(out).not.toContain('@');
      expect(out).toContain('café');
      expect(reports.at(-1)).toEqual({
        counts: { email: 2, card: 0, phone: 1, ip: 1, secret: 1 },
        complete: true,
      });
      // Growing counts before the end, never a second complete report.
      expect(reports.filter((r) => r.complete)).toHaveLength(1);
    },
  );

  it('reports the first pass only: later passes read the same text', async () => {
    const reports: ScrubReport[] = [];
    const source = scrubbedSource(chunked(TEXT, 16), (r) => reports.push(r));
    const first = await readAll(source);
    const seen = reports.length;
    expect(await readAll(source)).toBe(first);
    expect(reports).toHaveLength(seen);
  });

  it('cuts a line longer than its piece limit at a space, and still finds the email after it', async () => {
    const line = 'word '.repeat(MAX_SCRUB_PIECE_CHARS / 4) + 'mail me at carol@example.com please';
    const reports: ScrubReport[] = [];
    const out = await readAll(scrubbedSource(chunked(line, 1 << 16), (r) => reports.push(r)));
    expect(out.endsWith('mail me at <email> please')).toBe(true);
    expect(reports.at(-1)?.counts.email).toBe(1);
  });
});

describe('localTrainingSequences', () => {
  const decode = (tokens: Int32Array) => String.fromCharCode(...tokens);

  /** The first `count` sequences, decoded (the byte tokenizer's ids are the bytes). */
  async function sequences(scrub: boolean, count: number): Promise<string[]> {
    const reports: ScrubReport[] = [];
    const stream = localTrainingSequences(chunked(TEXT, 5), {
      seqLen: 16,
      seed: 1,
      tokenizer: new ByteTokenizer(),
      ...(scrub ? { scrub: (r: ScrubReport) => reports.push(r) } : {}),
    });
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      const next = await stream.next();
      if (next.done) throw new Error('the sequences ended');
      out.push(decode(next.value));
    }
    if (scrub) expect(reports.filter((r) => r.complete)).toHaveLength(1);
    return out;
  }

  // Windows restart with each pass, so the first window of every pass is "Write to alice.s": any pass
  // that holds the address shows it whole. 100 sequences are several passes, shuffled.
  it('tokenises the scrubbed text when asked', async () => {
    const seen = await sequences(true, 100);
    expect(seen.filter((s) => s.includes('alice'))).toEqual([]);
    expect(seen.filter((s) => s.includes('AKIA'))).toEqual([]);
    expect(seen.some((s) => s.startsWith('Write to <email>'))).toBe(true);
  });

  it('and the text as it is otherwise', async () => {
    expect((await sequences(false, 100)).some((s) => s.startsWith('Write to alice.s'))).toBe(true);
  });
});
