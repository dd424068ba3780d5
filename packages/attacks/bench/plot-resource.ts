/**
 * Renders the resource-flood rows for docs/benchmarks.md (§ Resource floods): per flood, the honest
 * workers' median round latency ÷ clean, their peak RSS above clean and their CPU ÷ clean, one bar chart
 * each, into a folder:
 *
 *   npm run bench:attack -- --problem none --resource --json > floods.jsonl
 *   node --conditions=@slimswarm/source --import tsx packages/attacks/bench/plot-resource.ts docs/img [prefix] < floods.jsonl
 *
 * `prefix` names a second set of charts beside the first (docs keep the rows before and after the defence).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { barChartSvg } from '@slimswarm/plots';
import { z } from 'zod';

const Row = z.object({
  bench: z.literal('attack-resource'),
  attack: z.string(),
  latencyRatioVsClean: z.number().nullable(),
  peakRssDeltaMiB: z.number(),
  cpuSecondsVsClean: z.number().nullable(),
});

const outDir = process.argv[2] ?? '.';
const prefix = z
  .string()
  .regex(/^[a-z0-9-]*$/)
  .parse(process.argv[3] ?? '');
const rows: z.infer<typeof Row>[] = [];
for await (const line of createInterface({ input: process.stdin })) {
  const parsed = Row.safeParse(JSON.parse(line || 'null'));
  if (parsed.success && parsed.data.attack !== 'none') rows.push(parsed.data);
}
const charts = [
  {
    file: 'floods-latency.svg',
    title: 'Round latency p50 ÷ clean',
    value: 'ratio',
    reference: 1,
    of: (r: (typeof rows)[number]) => r.latencyRatioVsClean,
  },
  {
    file: 'floods-rss.svg',
    title: 'Peak RSS of the honest workers − clean (MiB)',
    value: 'MiB',
    reference: 0,
    of: (r: (typeof rows)[number]) => r.peakRssDeltaMiB,
  },
  {
    file: 'floods-cpu.svg',
    title: 'CPU of the honest workers ÷ clean',
    value: 'ratio',
    reference: 1,
    of: (r: (typeof rows)[number]) => r.cpuSecondsVsClean,
  },
];
for (const c of charts) {
  const bars = rows.flatMap((r) => {
    const value = c.of(r);
    return value === null ? [] : [{ category: r.attack, value }];
  });
  await writeFile(
    join(outDir, prefix + c.file),
    await barChartSvg({ title: c.title, bars, value: c.value, reference: c.reference }),
  );
}
