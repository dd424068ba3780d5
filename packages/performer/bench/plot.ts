/**
 * Plots `npm run bench:slim -- --json` output for docs/benchmarks.md: peak memory vs L and time per token
 * vs L, one line per engine, as SVG (vega, no native dependencies).
 *
 *   node --conditions=@slimswarm/source --import tsx packages/performer/bench/plot.ts <bench.jsonl> <output dir>
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lineChartSvg } from '@slimswarm/plots';
import { z } from 'zod';

class PlotUsageError extends Error {
  override readonly name = 'PlotUsageError';
}

const EngineRow = z.object({
  engine: z.enum(['slim-ort', 'full-ort']),
  seqLen: z.number(),
  peakRssBytes: z.number(),
  tokensPerSec: z.number(),
});

const Args = z.tuple([z.string().min(1), z.string().min(1)]);

const parsedArgs = Args.safeParse(process.argv.slice(2));
if (!parsedArgs.success) throw new PlotUsageError('usage: plot.ts <bench.jsonl> <output dir>');
const [input, outputDir] = parsedArgs.data;
const rows = readFileSync(input, 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => EngineRow.safeParse(JSON.parse(line)))
  .flatMap((parsed) => (parsed.success ? [parsed.data] : []));
const MIB = 2 ** 20;
const lengths = {
  title: 'sequence length L (tokens)',
  type: 'log' as const,
  base: 2,
  values: [1024, 4096, 16384, 65536],
};
writeFileSync(
  join(outputDir, 'slim-memory.svg'),
  await lineChartSvg({
    title: 'Peak RSS of one exact gradient step',
    points: rows.map((r) => ({ series: r.engine, x: r.seqLen, y: r.peakRssBytes / MIB })),
    x: lengths,
    y: { title: 'peak RSS (MiB)', zero: true },
    dots: true,
  }),
);
writeFileSync(
  join(outputDir, 'slim-time.svg'),
  await lineChartSvg({
    title: 'Time per token of one exact gradient step',
    points: rows.map((r) => ({ series: r.engine, x: r.seqLen, y: 1e6 / r.tokensPerSec })),
    x: lengths,
    y: { title: 'µs per token', zero: true },
    dots: true,
  }),
);
