/**
 * Renders the benchmark's loss curves (one line per codec row) as SVG, for docs/benchmarks.md:
 *
 *   node --conditions=@slimswarm/source --import tsx packages/swarm/bench/swarm.ts --json > rows.jsonl
 *   node --conditions=@slimswarm/source --import tsx packages/swarm/bench/plot.ts < rows.jsonl > docs/img/swarm-loss.svg
 *
 * Rows of several runs (different --aggregation) may be concatenated: the rule then joins the labels.
 * Rows of a --slow-peer run are labelled by the slow peer and maxStaleness.
 */
import { createInterface } from 'node:readline';
import { lineChartSvg } from '@slimswarm/plots';
import { z } from 'zod';

const Row = z.object({
  codec: z.string(),
  errorFeedback: z.boolean(),
  compression: z.number(),
  aggregation: z.string(),
  maxStaleness: z.number(),
  slowPeerMs: z.number().nullable(),
  initialLoss: z.number(),
  lossByRound: z.array(z.number()),
});

const rows: z.infer<typeof Row>[] = [];
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() !== '') rows.push(Row.parse(JSON.parse(line)));
}
const byRule = new Set(rows.map((r) => r.aggregation)).size > 1;
const slowRun = rows.some((r) => r.slowPeerMs !== null);
const points: { round: number; loss: number; series: string }[] = [];
for (const row of rows) {
  const series =
    `${row.codec}${row.codec === 'topk-int8' && !row.errorFeedback ? ' no EF' : ''} (${row.compression}×)` +
    (byRule ? `, ${row.aggregation}` : '') +
    (slowRun
      ? row.slowPeerMs === null
        ? ', all peers fast'
        : `, one peer ${row.slowPeerMs} ms slow, maxStaleness ${row.maxStaleness}`
      : '');
  [row.initialLoss, ...row.lossByRound].forEach((loss, round) => points.push({ round, loss, series }));
}

process.stdout.write(
  await lineChartSvg({
    title: 'Shared-model loss per round, 8 peers, 131k params',
    points: points.map((p) => ({ series: p.series, x: p.round, y: p.loss })),
    x: { title: 'round' },
    y: { title: 'excess loss (log)', type: 'log' },
    width: 560,
    height: 300,
  }),
);
