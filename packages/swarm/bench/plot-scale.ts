/**
 * Renders the --scale rows (one per swarm size) as SVG for docs/benchmarks.md: bytes per peer and round
 * against the number of peers, for the round's distinct deltas, our frames received and the transport's
 * bytes, on log axes, so a line's slope is the power of N it grows with. Given `label=rows.jsonl`
 * arguments it draws each file's frames and transport lines under its label (a before/after comparison)
 * and the distinct deltas once; without arguments it reads one set of rows from stdin.
 *
 *   npm run bench:swarm -- --scale --json > rows.jsonl
 *   node --conditions=@slimswarm/source --import tsx packages/swarm/bench/plot-scale.ts < rows.jsonl > docs/img/swarm-scale.svg
 *   node --conditions=@slimswarm/source --import tsx packages/swarm/bench/plot-scale.ts before=a.jsonl after=b.jsonl > docs/img/swarm-scale.svg
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { lineChartSvg } from '@slimswarm/plots';
import { z } from 'zod';

const Row = z.object({
  peers: z.number(),
  uniqueDeltaBytesPerRound: z.number(),
  bytesReceivedPerPeerRound: z.number(),
  transportBytesPerPeerRound: z.number(),
});

// Short: the legend cuts labels at about 25 characters.
const DELTAS = "a round's distinct deltas";
const SERIES = {
  bytesReceivedPerPeerRound: 'our frames in',
  transportBytesPerPeerRound: 'transport in',
} as const;

const Source = z.string().regex(/^[^=]+=.+$/, 'label=rows.jsonl');
const sources = process.argv.slice(2).map((arg) => {
  const [label, path] = Source.parse(arg).split(/=(.*)/s) as [string, string];
  return { label: `${label}: `, input: createReadStream(path) };
});
if (sources.length === 0) sources.push({ label: '', input: process.stdin as never });

const points: { x: number; y: number; series: string }[] = [];
const deltas = new Map<number, number>();
for (const { label, input } of sources) {
  for await (const line of createInterface({ input })) {
    if (line.trim() === '') continue;
    const row = Row.parse(JSON.parse(line));
    deltas.set(row.peers, row.uniqueDeltaBytesPerRound);
    for (const [field, series] of Object.entries(SERIES) as [keyof typeof SERIES, string][]) {
      points.push({ x: row.peers, y: row[field], series: `${label}${series}` });
    }
  }
}
for (const [x, y] of deltas) points.push({ x, y, series: DELTAS });

process.stdout.write(
  await lineChartSvg({
    title: 'Bytes in per peer and round against swarm size (top-k, ring + 2 random chords)',
    points,
    x: { title: 'peers', type: 'log', base: 2, values: [...new Set(points.map((p) => p.x))] },
    y: { title: 'bytes per peer and round (log)', type: 'log' },
    dots: true,
    width: 560,
    height: 300,
  }),
);
