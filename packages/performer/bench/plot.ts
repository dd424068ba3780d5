/**
 * Plots `npm run bench:slim -- --json` output for docs/benchmarks.md: peak memory vs L and time per token
 * vs L, one line per engine, as SVG (vega, no native dependencies).
 *
 *   node --import tsx packages/performer/bench/plot.ts <bench.jsonl> <output dir>
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
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

interface Point {
  engine: string;
  seqLen: number;
  value: number;
}

function lineChart(title: string, yTitle: string, points: Point[]): vega.Spec {
  return {
    width: 420,
    height: 240,
    padding: 8,
    background: 'white',
    title: { text: title },
    data: [{ name: 'points', values: points }],
    scales: [
      { name: 'x', type: 'log', base: 2, domain: { data: 'points', field: 'seqLen' }, range: 'width' },
      {
        name: 'y',
        type: 'linear',
        zero: true,
        nice: true,
        domain: { data: 'points', field: 'value' },
        range: 'height',
      },
      { name: 'color', type: 'ordinal', domain: { data: 'points', field: 'engine' }, range: 'category' },
    ],
    axes: [
      {
        orient: 'bottom',
        scale: 'x',
        title: 'sequence length L (tokens)',
        values: [1024, 4096, 16384, 65536],
      },
      { orient: 'left', scale: 'y', title: yTitle },
    ],
    legends: [{ fill: 'color', title: 'engine' }],
    marks: [
      {
        type: 'group',
        from: { facet: { name: 'series', data: 'points', groupby: 'engine' } },
        marks: [
          {
            type: 'line',
            from: { data: 'series' },
            encode: {
              enter: {
                x: { scale: 'x', field: 'seqLen' },
                y: { scale: 'y', field: 'value' },
                stroke: { scale: 'color', field: 'engine' },
                strokeWidth: { value: 2 },
              },
            },
          },
          {
            type: 'symbol',
            from: { data: 'series' },
            encode: {
              enter: {
                x: { scale: 'x', field: 'seqLen' },
                y: { scale: 'y', field: 'value' },
                fill: { scale: 'color', field: 'engine' },
              },
            },
          },
        ],
      },
    ],
  };
}

async function render(spec: vega.Spec, path: string): Promise<void> {
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  writeFileSync(path, await view.toSVG());
  view.finalize();
}

const parsedArgs = Args.safeParse(process.argv.slice(2));
if (!parsedArgs.success) throw new PlotUsageError('usage: plot.ts <bench.jsonl> <output dir>');
const [input, outputDir] = parsedArgs.data;
const rows = readFileSync(input, 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => EngineRow.safeParse(JSON.parse(line)))
  .flatMap((parsed) => (parsed.success ? [parsed.data] : []));
const MIB = 2 ** 20;
await render(
  lineChart(
    'Peak RSS of one exact gradient step',
    'peak RSS (MiB)',
    rows.map((r) => ({ engine: r.engine, seqLen: r.seqLen, value: r.peakRssBytes / MIB })),
  ),
  join(outputDir, 'slim-memory.svg'),
);
await render(
  lineChart(
    'Time per token of one exact gradient step',
    'µs per token',
    rows.map((r) => ({ engine: r.engine, seqLen: r.seqLen, value: 1e6 / r.tokensPerSec })),
  ),
  join(outputDir, 'slim-time.svg'),
);
