/**
 * Run as `node --expose-gc --conditions=@slimswarm/source --import tsx memory-probe.ts <folder>` by memory.test.ts (with a 1 MB young
 * generation, so short-lived garbage does not pass for held memory): imports the folder
 * and prints, as one JSON line, the growth of V8 heap + ArrayBuffer memory over the import (its peak,
 * sampled between file reads, and what stays) beside the size of one fp32 copy of the weights.
 */
import { importHfFolder } from '../src/node.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const used = (): number => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

gc();
const baseline = used();
let peak = baseline;
const sampler = setInterval(() => (peak = Math.max(peak, used())), 0);
const started = performance.now();
const model = await importHfFolder(process.argv[2]!, { seed: 1 });
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);
peak = Math.max(peak, used());
gc();
const retained = used() - baseline;
const fp32Bytes = Object.values(model.params).reduce((sum, p) => sum + p.byteLength, 0);
process.stdout.write(JSON.stringify({ fp32Bytes, peakGrowth: peak - baseline, retained, seconds }) + '\n');
