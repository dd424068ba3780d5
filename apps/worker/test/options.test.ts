import { mkdtemp, writeFile, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWorkerArgs } from '../src/options.js';
import { resolveDataFiles } from '../src/data.js';
import { DataNotFoundError, InvalidOptionError } from '../src/errors.js';

const defaults = { threads: 2 };

describe('worker flags', () => {
  it('parses a full command line', () => {
    const o = parseWorkerArgs(
      [
        '--data',
        'a.txt',
        '--data',
        'notes/',
        '--bootstrap',
        '/ip4/127.0.0.1/tcp/4001',
        '--threads',
        '1',
        '--json',
      ],
      defaults,
    );
    expect(o.data).toEqual(['a.txt', 'notes/']);
    expect(o.bootstrap).toEqual(['/ip4/127.0.0.1/tcp/4001']);
    expect(o.threads).toBe(1);
    expect(o.json).toBe(true);
    expect(o.coordinator).toBe('http://127.0.0.1:8700');
  });

  it('takes the job key to pin, an invite code and a ticket file', () => {
    const key = 'ab'.repeat(32);
    const o = parseWorkerArgs(
      ['--data', 'a.txt', '--job-key', key, '--invite', 'code-1', '--ticket', 't.json'],
      defaults,
    );
    expect([o.jobKey, o.invite, o.ticket]).toEqual([key, 'code-1', 't.json']);
  });

  it('scrubs PII by default, and not with --no-scrub', () => {
    expect(parseWorkerArgs(['--data', 'a.txt'], defaults).scrub).toBe(true);
    expect(parseWorkerArgs(['--data', 'a.txt', '--no-scrub'], defaults).scrub).toBe(false);
  });

  it.each([
    [[], /--data/],
    [['--data', 'a.txt', '--bootstrap', 'not-an-address'], /--bootstrap: not a multiaddr/],
    [['--data', 'a.txt', '--threads', 'many'], /--threads expects a positive integer/],
    [['--data', 'a.txt', '--threads', '0'], /--threads/],
    [['--data', 'a.txt', '--coordinator', 'ftp://x'], /--coordinator/],
    [['--data', 'a.txt', '--frobnicate'], /unknown option/],
    [['--data', 'a.txt', '--job-key', 'ABCD'], /--job-key/],
  ])('rejects %j with a clear InvalidOptionError', (argv, message) => {
    expect(() => parseWorkerArgs(argv, defaults)).toThrow(InvalidOptionError);
    expect(() => parseWorkerArgs(argv, defaults)).toThrow(message);
  });
});

describe('--data resolution', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slimswarm-data-'));
    await mkdir(join(dir, 'notes/deep'), { recursive: true });
    await writeFile(join(dir, 'a.txt'), 'hello');
    await writeFile(join(dir, 'notes/b.md'), 'world');
    await writeFile(join(dir, 'notes/deep/c.txt'), '!');
    await writeFile(join(dir, 'empty.txt'), '');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('takes files, directories (recursively) and globs, sorted, without empty files', async () => {
    const files = await resolveDataFiles(['a.txt', 'notes', '**/*.txt'], dir);
    expect(files).toEqual([join(dir, 'a.txt'), join(dir, 'notes/b.md'), join(dir, 'notes/deep/c.txt')]);
  });

  it('names what is missing', async () => {
    await expect(resolveDataFiles(['nope.txt'], dir)).rejects.toThrow(DataNotFoundError);
    await expect(resolveDataFiles(['*.csv'], dir)).rejects.toThrow(/matches no files/);
    await expect(resolveDataFiles(['empty.txt'], dir)).rejects.toThrow(/every file is empty/);
  });
});
