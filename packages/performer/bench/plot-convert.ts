/**
 * Plots `npm run bench:convert -- --json` output (packages/default-job/bench/convert.ts) for
 * docs/benchmarks.md: KL(softmax ‖ FAVOR+) against M, mean ± std over ω seeds, as SVG.
 *
 *   node --conditions=@slimswarm/source --import tsx packages/performer/bench/plot-convert.ts <bench.jsonl> <output dir>
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lineChartSvg } from '@slimswarm/plots';
import { z } from 'zod';

class PlotUsageError extends Error {
  override readonly name = 'PlotUsageError';
}

const KlRow = z.object({ M: z.number(), klMean: z.number(), klStd: z.number() });

const parsedArgs = z.tuple([z.string().min(1), z.string().min(1)]).safeParse(process.argv.slice(2));
if (!parsedArgs.success) throw new PlotUsageError('usage: plot-convert.ts <bench.jsonl> <output dir>');
const [input, outputDir] = parsedArgs.data;
// The first line describes the teacher; the rest are one per M.
const rows = readFileSync(input, 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => KlRow.safeParse(JSON.parse(line)))
  .flatMap((parsed) => (parsed.success ? [parsed.data] : []));
const band = (sign: number, label: string): { series: string; x: number; y: number }[] =>
  rows.map((r) => ({ series: label, x: r.M, y: r.klMean + sign * r.klStd }));
writeFileSync(
  join(outputDir, 'convert-kl.svg'),
  await lineChartSvg({
    title: 'KL(softmax ‖ FAVOR+) of next-token distributions, no fine-tuning',
    points: [
      ...rows.map((r) => ({ series: 'mean over ω seeds', x: r.M, y: r.klMean })),
      ...band(1, 'mean + std'),
      ...band(-1, 'mean − std'),
    ],
    x: { title: 'random features M', type: 'log', base: 2, values: rows.map((r) => r.M) },
    y: { title: 'KL (nats per token)', zero: true },
    dots: true,
  }),
);
