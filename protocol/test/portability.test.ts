import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const srcDir = new URL('../src/', import.meta.url);
const sources = readdirSync(srcDir).filter((file) => file.endsWith('.ts'));

describe('protocol sources run in browsers', () => {
  it.each(sources)(
    '%s imports only zod, @noble/hashes, @noble/curves and sibling modules, and no Node globals',
    (file) => {
      const text = readFileSync(new URL(file, srcDir), 'utf8');
      const imports = [...text.matchAll(/from '([^']+)'/g)].map((m) => m[1]!);
      for (const specifier of imports)
        expect(specifier).toMatch(/^(zod|@noble\/(hashes|curves)\/[a-z0-9]+\.js|\.\/[a-z-]+\.js)$/);
      expect(text).not.toMatch(/\b(Buffer|process|require|__dirname)\b/);
    },
  );
});
