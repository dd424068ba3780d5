import { describe, expect, it } from 'vitest';
import { ByteTextStream } from '../src/token-text.js';

const pieces = (text: string | number[]) => {
  const stream = new ByteTextStream();
  const ids = typeof text === 'string' ? [...new TextEncoder().encode(text)] : text;
  return [...ids.map((id) => stream.push(id)), stream.end()];
};

describe('ByteTextStream', () => {
  it('shows each multi-byte character once, when its last byte arrives', () => {
    // é is 2 bytes, 群 3, 🐝 4.
    expect(pieces('aé群🐝')).toEqual(['a', '', 'é', '', '', '群', '', '', '', '🐝', '']);
    expect(pieces('aé群🐝').join('')).toBe('aé群🐝');
  });

  it('shows invalid bytes, a cut character and ids beyond a byte as U+FFFD', () => {
    expect(pieces([0xff, 0x41]).join('')).toBe('\uFFFDA');
    expect(pieces([0xe7, 0xbe]).join('')).toBe('\uFFFD');
    expect(pieces([0x41, 300, 0x42]).join('')).toBe('A\uFFFDB');
  });
});
