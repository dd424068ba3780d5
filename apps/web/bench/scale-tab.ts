/**
 * The scale check's browser client: the volunteer page in Debian's headless Chromium, given this
 * repository's docs as its files, started with its own button, followed through the volunteer events it
 * dispatches (page-events.ts). Its memory is the renderer process's (the page and its compute Web
 * Worker, where the engine and its wasm heap live), read from /proc; the whole browser's is reported too.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { VolunteerEvent } from '@slimswarm/client';
import { REPO_ROOT } from '@slimswarm/local';
import { ProcessWindow } from '@slimswarm/local/proc-sampler';
import { buildPages, launchChromium } from '../test/harness.js';
import { VOLUNTEER_EVENT } from '../src/page-events.js';
import { clientRun, type ClientRun, type ScaleJob } from './scale-run.js';

const STEP_TIMEOUT_MS = 60 * 60_000;
const BINDING = '__slimswarmScaleEvent';

/** Our descendants whose command line says they are Chromium renderers. */
async function renderers(): Promise<number[]> {
  const parents = new Map<number, number>();
  const commands = new Map<number, string>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      commands.set(Number(entry), (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replaceAll('\0', ' '));
    } catch {
      // gone meanwhile
    }
  }
  const ours = (pid: number): boolean => {
    for (let p = parents.get(pid); p !== undefined && p > 1; p = parents.get(p))
      if (p === process.pid) return true;
    return false;
  };
  return [...commands]
    .filter(([pid, cmd]) => cmd.includes('--type=renderer') && ours(pid))
    .map(([pid]) => pid);
}

/** Several renderers may exist (the blank start page's); the tab's is the one that grows. */
class RendererWindows {
  private windows: ProcessWindow[] = [];

  async start(): Promise<void> {
    this.windows = (await renderers()).map((pid) => new ProcessWindow(pid, 200));
    await Promise.all(this.windows.map((w) => w.start()));
  }

  async finish(): Promise<number> {
    const figures = await Promise.all(this.windows.map((w) => w.finish()));
    return Math.max(0, ...figures.map((f) => f.peakRssMiB));
  }
}

export async function runTabClient(job: ScaleJob): Promise<ClientRun> {
  job.say('building the pages');
  await buildPages();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const events: VolunteerEvent[] = [];
    const waiters: (() => void)[] = [];
    await page.exposeBinding(BINDING, (_source, e: VolunteerEvent) => {
      events.push(e);
      job.say(`[tab] ${e.event}`);
      for (const wake of waiters.splice(0)) wake();
    });
    await page.addInitScript(
      ({ name, binding }) => {
        const report = (globalThis as unknown as Record<string, (e: unknown) => void>)[binding]!;
        addEventListener(name, (e) => report((e as CustomEvent).detail));
      },
      { name: VOLUNTEER_EVENT, binding: BINDING },
    );
    page.on('pageerror', (e) => job.say(`[tab] page error: ${e.message}`));
    const waitFor = async <K extends VolunteerEvent['event']>(
      event: K,
    ): Promise<Extract<VolunteerEvent, { event: K }>> => {
      const deadline = Date.now() + STEP_TIMEOUT_MS;
      for (;;) {
        const found = events.find((e): e is Extract<VolunteerEvent, { event: K }> => e.event === event);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`the tab sent no ${event} event in time`);
        await new Promise<void>((wake) => waiters.push(wake));
      }
    };
    const spawned = Date.now();
    await page.goto(job.coordinator);
    const memory = new RendererWindows();
    await memory.start();
    const docs = join(REPO_ROOT, 'docs');
    const files = (await readdir(docs)).filter((f) => f.endsWith('.md')).map((f) => join(docs, f));
    await page.setInputFiles('#files', files);
    await page.click('#start');
    const ready = await waitFor('ready');
    await waitFor('synced');
    const synced = Date.now();
    const startMiB = await memory.finish();
    const training = new RendererWindows();
    await training.start();
    const step = await waitFor('step');
    const stepped = Date.now();
    const round = await waitFor('round');
    const trainingMiB = await training.finish();
    return clientRun(job, { spawned, synced, stepped }, { ready, step, round }, { startMiB, trainingMiB });
  } finally {
    await browser.close();
  }
}
