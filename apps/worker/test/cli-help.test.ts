/**
 * The use-the-model CLIs as a user first meets them: `--help` lists every flag and exits 0, and a bad
 * command line names the flag and exits 2 before anything is loaded. Flag parsing itself is checked
 * in-process, where it is cheap. (These run the sources; `npm run pack:check` runs the installed bins.)
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../src/errors.js';
import { parseExportArgs } from '../src/export-options.js';
import { parseGenerateArgs } from '../src/generate-options.js';
import { run } from './processes.js';

const defaults = { threads: 2 };

describe('slimswarm-generate and slimswarm-export --help', () => {
  it.each([
    [
      'apps/worker/src/generate-main.ts',
      ['--checkpoint', '--config', '--coordinator', '--prompt', '--max-tokens', '--temperature', '--top-k'],
    ],
    ['apps/worker/src/export-main.ts', ['--checkpoint', '--config', '--coordinator', '--out', '--force']],
  ])('%s --help lists its flags and exits 0', async (bin, flags) => {
    const out = await run(bin, ['--help']);
    expect(out.code).toBe(0);
    for (const flag of flags) expect(out.stdout).toContain(flag);
  });

  it('a bad command line names the flag and exits 2', async () => {
    const out = await run('apps/worker/src/generate-main.ts', ['--checkpoint', 'x']);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/slimswarm-generate: .*--prompt/);
  });
});

describe('generate and export flags', () => {
  it('take a model source, the prompt and the sampling settings', () => {
    const o = parseGenerateArgs(
      [
        ...['--coordinator', 'http://127.0.0.1:8700', '--prompt', 'The swarm', '--max-tokens', '64'],
        ...['--temperature', '0.7', '--top-k', '40', '--top-p', '0.9', '--seed', '7', '--json'],
      ],
      defaults,
    );
    expect(o).toMatchObject({ prompt: 'The swarm', maxTokens: 64, temperature: 0.7, topK: 40, topP: 0.9 });
    expect([o.seed, o.json, o.threads, o.checkpoint]).toEqual([7, true, 2, undefined]);
    // Sampling settings left out are the decoder's to default.
    expect(parseGenerateArgs(['--checkpoint', 'm', '--prompt', 'x'], defaults).temperature).toBeUndefined();
    expect(parseExportArgs(['--checkpoint', 'm', '--out', 'dir'])).toMatchObject({
      out: 'dir',
      force: false,
    });
  });

  it.each([
    [['--prompt', 'x'], /either --checkpoint <file\|dir> or --coordinator <url>/],
    [['--checkpoint', 'm', '--coordinator', 'http://h', '--prompt', 'x'], /one of them/],
    [
      ['--coordinator', 'http://h', '--config', 'c.json', '--prompt', 'x'],
      /--config: goes with --checkpoint/,
    ],
    [['--checkpoint', 'm', '--prompt', ''], /--prompt/],
    [['--checkpoint', 'm', '--prompt', 'x', '--temperature', 'hot'], /--temperature expects a number/],
    [['--checkpoint', 'm', '--prompt', 'x', '--top-p', '0'], /--top-p/],
    [['--checkpoint', 'm', '--prompt', 'x', '--max-tokens', '0'], /--max-tokens/],
    [['--coordinator', 'ftp://h', '--prompt', 'x'], /--coordinator/],
  ])('generate rejects %j with a clear InvalidOptionError', (argv, message) => {
    expect(() => parseGenerateArgs(argv, defaults)).toThrow(InvalidOptionError);
    expect(() => parseGenerateArgs(argv, defaults)).toThrow(message);
  });
});
