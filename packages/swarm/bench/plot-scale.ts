/**
 * Renders the --scale rows (one per swarm size) as SVG for docs/benchmarks.md: bytes per peer and round
 * against the number of peers, for the round's distinct deltas, our frames received and the transport's
 * bytes, on log axes, so a line's slope is the power of N it grows with.
 *
 *   npm run bench:swarm -- --scale --json > rows.jsonl
 *   node --conditions=@slimswarm/source --import tsx packages/swarm/bench/plot-scale.ts < rows.jsonl > docs/img/swarm-scale.svg
 */
import { createInterface } from 'node:readline';
import { lineChartSvg } from '@slimswarm/plots';
import { z } from 'zod';

const Row = z.object({
  peers: z.number(),
  uniqueDeltaBytesPerRound: z.number(),
  bytesReceivedPerPeerRound: z.number(),
  transportBytesPerPeerRound: z.number(),
});

const SERIES = {
  uniqueDeltaBytesPerRound: "the round's distinct deltas",
  bytesReceivedPerPeerRound: 'our frames received (deltas, heartbeats, …)',
  transportBytesPerPeerRound: 'transport bytes received (noise, yamux, gossip control)',
} as const;

const points: { x: number; y: number; series: string }[] = [];
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue;
  const row = Row.parse(JSON.parse(line));
  for (const [field, series] of Object.entries(SERIES) as [keyof typeof SERIES, string][]) {
    points.push({ x: row.peers, y: row[field], series });
  }
}

process.stdout.write(
  await lineChartSvg({
    title: 'Bytes per peer and round against swarm size (top-k, ring + 2 random chords)',
    points,
    x: { title: 'peers', type: 'log', base: 2, values: [...new Set(points.map((p) => p.x))] },
    y: { title: 'bytes per peer and round (log)', type: 'log' },
    dots: true,
    width: 560,
    height: 300,
  }),
);
