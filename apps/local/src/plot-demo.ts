/**
 * Renders the held-out curves that `npm run demo -- --json` prints (swarm vs solo) as SVG:
 *
 *   npm run demo -- --peers 3 --rounds 10 --json | node --import tsx apps/local/src/plot-demo.ts > docs/img/demo-heldout.svg
 */
import { createInterface } from 'node:readline';
import { lineChartSvg } from '@slimswarm/plots';
import { z } from 'zod';

const CurvePoint = z.object({ run: z.enum(['swarm', 'solo']), round: z.number(), heldOutLoss: z.number() });

const points: { series: string; x: number; y: number }[] = [];
let title = 'Held-out loss per round';
for await (const line of createInterface({ input: process.stdin })) {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    continue; // npm's banner lines
  }
  const point = CurvePoint.safeParse(value);
  if (point.success) points.push({ series: point.data.run, x: point.data.round, y: point.data.heldOutLoss });
  const summary = z.object({ peers: z.number(), rounds: z.number() }).safeParse(value);
  if (summary.success) title = `Held-out loss per round: ${summary.data.peers} workers vs worker 0 alone`;
}
process.stdout.write(
  await lineChartSvg({
    title,
    points,
    x: { title: 'round' },
    y: { title: 'held-out loss (nats/byte)' },
    dots: true,
  }),
);
