/**
 * Renders what `npm run demo -- --json` prints as SVG: held-out bits per byte per round of the swarm, worker
 * 0 alone and centralized training, with xz (alone and primed with the training shards) as dashed lines:
 *
 *   npm run demo -- --peers 3 --rounds 10 --json | node --conditions=@slimswarm/source --import tsx apps/local/src/plot-demo.ts > docs/img/demo-heldout.svg
 */
import { createInterface } from 'node:readline';
import { lineChartSvg } from '@slimswarm/plots';
import { z } from 'zod';

const CurvePoint = z.object({
  run: z.enum(['swarm', 'solo', 'centralized']),
  round: z.number(),
  heldOutBitsPerByte: z.number(),
});
const Summary = z.object({
  peers: z.number(),
  rounds: z.number(),
  heldOutBitsPerByte: z.object({ xz: z.number(), xzPrimed: z.number() }),
});

const points: { series: string; x: number; y: number }[] = [];
let summary: z.infer<typeof Summary> | null = null;
for await (const line of createInterface({ input: process.stdin })) {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    continue; // npm's banner lines
  }
  const point = CurvePoint.safeParse(value);
  if (point.success)
    points.push({ series: point.data.run, x: point.data.round, y: point.data.heldOutBitsPerByte });
  const last = Summary.safeParse(value);
  if (last.success) summary = last.data;
}
const swarmName = summary ? `${summary.peers} workers` : 'the swarm';
process.stdout.write(
  await lineChartSvg({
    title: `Held-out bits per byte: ${swarmName} vs worker 0 alone vs centralized`,
    points,
    x: { title: 'round (centralized: the same tokens)' },
    y: { title: 'held-out bits per byte' },
    dots: true,
    rules: summary
      ? [
          { y: summary.heldOutBitsPerByte.xz, label: 'xz -9e' },
          { y: summary.heldOutBitsPerByte.xzPrimed, label: 'xz -9e, primed' },
        ]
      : [],
  }),
);
