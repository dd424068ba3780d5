/**
 * Renders the privacy benchmark's canary rows for docs/benchmarks.md: exposure against the number of
 * copies k, one line per ε, and the shared model's held-out bits per byte against k on the same lines —
 * privacy and utility side by side. Writes two SVGs into a folder:
 *
 *   npm run bench:privacy -- --quick --json > rows.jsonl
 *   node --conditions=@slimswarm/source --import tsx packages/attacks/bench/plot-privacy.ts docs/img < rows.jsonl
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { lineChartSvg } from '@slimswarm/plots';
import { z } from 'zod';

const Row = z.object({
  attack: z.literal('canary'),
  epsilon: z.number().nullable(),
  k: z.number(),
  candidates: z.number(),
  exposure: z.number(),
  heldOutBitsPerByte: z.number(),
});

const outDir = process.argv[2] ?? '.';
const rows: z.infer<typeof Row>[] = [];
for await (const line of createInterface({ input: process.stdin })) {
  const parsed = Row.safeParse(JSON.parse(line || 'null'));
  if (parsed.success) rows.push(parsed.data);
}
if (rows.length === 0) throw new Error('no canary rows on stdin (run bench:privacy with --json)');
const series = (r: z.infer<typeof Row>) => `ε ${r.epsilon ?? '∞'}`;
const ks = [...new Set(rows.map((r) => r.k))].sort((a, b) => a - b);
const most = Math.log2(Math.max(...rows.map((r) => r.candidates)));

await writeFile(
  join(outDir, 'privacy-canary-exposure.svg'),
  await lineChartSvg({
    title: 'Canary exposure after training, by copies in one volunteer’s text',
    points: rows.map((r) => ({ series: series(r), x: r.k, y: r.exposure })),
    x: { title: 'copies of the canary (k)', type: 'log', base: 2, values: ks },
    y: { title: 'exposure (bits)', zero: true },
    rules: [{ y: most, label: `most measurable: log2(${Math.round(2 ** most)})` }],
    width: 560,
    height: 320,
    dots: true,
  }),
);
await writeFile(
  join(outDir, 'privacy-canary-utility.svg'),
  await lineChartSvg({
    title: 'The same runs: shared model’s held-out bits per byte',
    points: rows.map((r) => ({ series: series(r), x: r.k, y: r.heldOutBitsPerByte })),
    x: { title: 'copies of the canary (k)', type: 'log', base: 2, values: ks },
    y: { title: 'held-out bits per byte (log)', type: 'log' },
    width: 560,
    height: 320,
    dots: true,
  }),
);
