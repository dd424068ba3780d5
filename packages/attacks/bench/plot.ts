/**
 * Renders the attack benchmark for docs/benchmarks.md: per problem, the loss relative to the clean run
 * against the number of Byzantine peers, one line per (attack, rule) — the mean over seeds — on a log
 * axis (the undefended mean is off by orders of magnitude). Writes one SVG per problem into a folder:
 *
 *   node --conditions=@slimswarm/source --import tsx packages/attacks/bench/attack.ts --json > rows.jsonl
 *   node --conditions=@slimswarm/source --import tsx packages/attacks/bench/plot.ts docs/img < rows.jsonl
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { lineChartSvg } from '@slimswarm/plots';
import { z } from 'zod';

const Row = z.object({
  problem: z.string(),
  rule: z.string(),
  attack: z.string(),
  byzantine: z.number(),
  lossVsClean: z.number(),
});

const outDir = process.argv[2] ?? '.';
const rows: z.infer<typeof Row>[] = [];
for await (const line of createInterface({ input: process.stdin })) {
  const parsed = Row.safeParse(JSON.parse(line || 'null'));
  if (parsed.success && parsed.data.attack !== 'none') rows.push(parsed.data);
}
for (const problem of new Set(rows.map((r) => r.problem))) {
  const groups = new Map<string, { x: number; ys: number[] }[]>();
  for (const r of rows.filter((row) => row.problem === problem)) {
    const series = `${r.attack} · ${r.rule === 'mean' ? 'mean' : 'defence'}`;
    const points = groups.get(series) ?? [];
    let p = points.find((q) => q.x === r.byzantine);
    if (!p) points.push((p = { x: r.byzantine, ys: [] }));
    p.ys.push(r.lossVsClean);
    groups.set(series, points);
  }
  const points = [...groups].flatMap(([series, ps]) =>
    ps.map((p) => ({ series, x: p.x, y: 1 + p.ys.reduce((a, b) => a + b, 0) / p.ys.length })),
  );
  const svg = await lineChartSvg({
    title: `Poisoning, ${problem}: final loss ÷ clean, mean of seeds`,
    points,
    x: { title: 'Byzantine peers of 8', values: [1, 2, 3] },
    y: { title: 'loss ÷ clean (log)', type: 'log' },
    width: 560,
    height: 360,
    dots: true,
  });
  await writeFile(join(outDir, `attack-${problem}.svg`), svg);
}
