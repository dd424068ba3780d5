/**
 * Renders the benchmark's loss curves (one line per codec row) as SVG, for docs/benchmarks.md:
 *
 *   node --import tsx packages/swarm/bench/swarm.ts --json > rows.jsonl
 *   node --import tsx packages/swarm/bench/plot.ts < rows.jsonl > docs/img/swarm-loss.svg
 */
import { createInterface } from 'node:readline';
import * as vega from 'vega';
import { z } from 'zod';

const Row = z.object({
  codec: z.string(),
  errorFeedback: z.boolean(),
  compression: z.number(),
  initialLoss: z.number(),
  lossByRound: z.array(z.number()),
});

const points: { round: number; loss: number; series: string }[] = [];
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue;
  const row = Row.parse(JSON.parse(line));
  const series = `${row.codec}${row.codec === 'topk-int8' && !row.errorFeedback ? ' no EF' : ''} (${row.compression}×)`;
  [row.initialLoss, ...row.lossByRound].forEach((loss, round) => points.push({ round, loss, series }));
}

const spec: vega.Spec = {
  width: 560,
  height: 300,
  padding: 8,
  background: 'white',
  title: { text: 'Shared-model loss per round, 8 peers, 131k params' },
  data: [{ name: 'points', values: points }],
  scales: [
    { name: 'x', type: 'linear', domain: { data: 'points', field: 'round' }, range: 'width' },
    { name: 'y', type: 'log', domain: { data: 'points', field: 'loss' }, range: 'height', nice: true },
    { name: 'color', type: 'ordinal', domain: { data: 'points', field: 'series' }, range: 'category' },
  ],
  axes: [
    { orient: 'bottom', scale: 'x', title: 'round' },
    { orient: 'left', scale: 'y', title: 'excess loss (log)' },
  ],
  legends: [{ stroke: 'color', orient: 'top-right' }],
  marks: [
    {
      type: 'group',
      from: { facet: { name: 'series', data: 'points', groupby: 'series' } },
      marks: [
        {
          type: 'line',
          from: { data: 'series' },
          encode: {
            enter: {
              x: { scale: 'x', field: 'round' },
              y: { scale: 'y', field: 'loss' },
              stroke: { scale: 'color', field: 'series' },
              strokeWidth: { value: 2 },
            },
          },
        },
      ],
    },
  ],
};

process.stdout.write(await new vega.View(vega.parse(spec), { renderer: 'none' }).toSVG());
