/**
 * The volunteer tab and the dashboard in a real Chromium, against the real coordinator and a real Node
 * worker, on this machine only: two tabs (each its own browser and profile) and the worker train
 * together, agree on the model, show up on the dashboard; the tabs reach each other directly over WebRTC
 * (the coordinator relays only the handshake); a reloaded tab resumes from IndexedDB; a tab samples text
 * from the shared model it holds while it trains; and the text the tabs train on (and a prompt they
 * sample from) never crosses the wire in any form.
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readPretrainCorpus } from '@slimswarm/default-job';
import { PROTOCOL_LIMITS, decodeFrame, topics } from '@slimswarm/protocol';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  WireRecorder,
  BUILD_PAGES_MS,
  buildPages,
  gossipObserver,
  indexOfBytes,
  launchChromium,
  markerForms,
  removeDir,
  scratchDir,
  screenshot,
  startCoordinator,
  startWorker,
  writeTestJob,
} from './harness.js';

const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
/** Rounds every participant must have merged, with equal hashes, before the swarm counts as agreeing. */
const ROUNDS_TO_AGREE = 2;
const MARKER = `private-${randomUUID()}`;

type Tab = { page: Page; recorder: WireRecorder; browser: Browser };
type Started = Awaited<ReturnType<typeof startCoordinator>>;

let dir = '';
let coordinator: Started | null = null;
let worker: ReturnType<typeof startWorker> | null = null;
let observer: Awaited<ReturnType<typeof gossipObserver>> | null = null;
const browsers: Browser[] = [];
const tabs: Tab[] = [];
let dashboard: Page | null = null;
let url = '';
let tabData = '';

async function text(page: Page, selector: string): Promise<string> {
  return (await page.textContent(selector)) ?? '';
}

/** Rounds the tab's page lists as merged with its delta, by the model hash each gave. */
async function tabRounds(page: Page): Promise<Map<number, string>> {
  const rows = await page.$$eval('#rounds li', (items) =>
    items.map((li) => [Number((li as HTMLElement).dataset.round), (li as HTMLElement).dataset.sha256 ?? '']),
  );
  return new Map(rows as [number, string][]);
}

/**
 * The model each round started from, as `peer` announced it in its anti-entropy summaries (current and
 * past models; a later summary wins). Unlike the rounds a peer contributed to, this covers every round
 * it went through: a tab slower than a round merges its delta only every other round.
 */
function announcedModels(peer: string): Map<number, string> {
  const out = new Map<number, string>();
  const summaries = topics.summaries(coordinator!.listening.jobId);
  for (const m of observer!.messages) {
    if (m.from !== peer || m.topic !== summaries) continue;
    const { message } = decodeFrame(m.data, { maxBytes: PROTOCOL_LIMITS.maxGossipFrameBytes });
    if (message.type !== 'anti-entropy-summary') continue;
    for (const past of message.pastModels) out.set(past.round, past.modelSha256);
    out.set(message.round, message.modelSha256);
  }
  return out;
}

async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | null>,
  explain: () => Promise<string> = async () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}. ${await explain()}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Elements that stick out to the right of the viewport (none when the page fits its width). */
async function overflowing(page: Page): Promise<string[]> {
  const offenders = () =>
    page.evaluate(() =>
      [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
        .map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}.${[...e.classList].join('.')}`),
    );
  // Charts follow their containers through ResizeObserver callbacks: give a resize a moment to settle.
  return until(
    'the page to fit its width',
    5_000,
    async () => ((await offenders()).length === 0 ? [] : null),
    async () => `Overflowing: ${(await offenders()).join(', ')}`,
  );
}

/** What a tab says of itself, for a failed wait: its state, its last message and its console errors. */
async function tabStatus(tab: Tab): Promise<string> {
  const [state, message] = await Promise.all([
    text(tab.page, '#tab-state'),
    text(tab.page, '#message'),
  ]).catch((e: unknown) => [`unreadable (${String(e)})`, '']);
  return `The tab is ${state}: ${message}. Console errors: ${tab.recorder.consoleErrors.slice(-5).join(' | ')}`;
}

/**
 * Waits for a fresh checkpoint, then reopens the tab (`reopen` returns the page that now shows it): the
 * next checkpoint is a whole round away, so the tab must resume at exactly that step and train on.
 */
async function resumesFromCheckpoint(tab: Tab, reopen: (page: Page) => Promise<Page>): Promise<void> {
  const peerId = await text(tab.page, '#f-peer');
  const before = Number((await tab.page.getAttribute('#f-checkpoint', 'data-step')) ?? 0);
  const saved = await until('a fresh checkpoint', 60_000, async () => {
    const step = Number((await tab.page.getAttribute('#f-checkpoint', 'data-step')) ?? 0);
    return step > before ? step : null;
  });
  tab.page = await reopen(tab.page);
  const resumed = await until(
    'the tab to resume',
    60_000,
    async () => {
      const step = await tab.page.getAttribute('#f-resumed', 'data-step').catch(() => null);
      return step ? Number(step) : null;
    },
    () => tabStatus(tab),
  );
  expect(resumed).toBe(saved);
  // The identity comes back from IndexedDB too: the swarm sees the same peer, not a newcomer.
  expect(await text(tab.page, '#f-peer')).toBe(peerId);
  await until('training to go on after resuming', 60_000, async () =>
    Number(await text(tab.page, '#m-step')) > resumed ? true : null,
  );
}

beforeAll(async () => {
  dir = await scratchDir();
  const [job] = await Promise.all([writeTestJob(dir), buildPages()]);
  coordinator = await startCoordinator(job);
  url = coordinator.listening.http;
  // The tabs' text (real English) carries a unique marker line after every ~60 characters, so that every
  // training sequence sees it.
  tabData = join(dir, 'tab.txt');
  const english = new TextDecoder().decode((await readPretrainCorpus()).heldOut.subarray(0, 48_000));
  await writeFile(tabData, english.slice(0, 24_000).replace(/(.{60}\S*)\s/g, `$1\n${MARKER}\n`));
  const workerData = join(dir, 'worker.txt');
  await writeFile(workerData, english.slice(24_000));
  worker = startWorker(url, workerData, join(dir, 'worker-state'));
  observer = await gossipObserver(coordinator.listening.multiaddrs, coordinator.listening.jobId);
}, BUILD_PAGES_MS);

afterAll(async () => {
  await Promise.all(browsers.map((b) => b.close()));
  await observer?.peer.stop();
  await worker?.stop(10_000);
  await coordinator?.child.stop(10_000);
  if (dir) await removeDir(dir);
}, 60_000);

describe('the volunteer tab and the dashboard in Chromium', () => {
  it('serve pages that load without console errors at laptop and phone widths', async () => {
    const browser = await launchChromium();
    browsers.push(browser);
    for (const path of ['/', '/dashboard/']) {
      const context = await browser.newContext({ viewport: LAPTOP });
      const recorder = new WireRecorder(context);
      const page = await context.newPage();
      await recorder.watch(page);
      await page.goto(new URL(path, url).href);
      await page.waitForLoadState('networkidle');
      expect(await overflowing(page)).toEqual([]);
      await page.setViewportSize(PHONE);
      await page.waitForTimeout(300);
      expect(await overflowing(page)).toEqual([]);
      expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
      expect(recorder.consoleErrors).toEqual([]);
      await context.close();
    }
  }, 60_000);

  /** The worker's peer id ('' until it reported ready). */
  const workerId = () => {
    const ready = worker!.events.find((e) => e.event === 'ready');
    return ready?.event === 'ready' ? ready.peerId : '';
  };

  it('trains in two tabs and a Node worker that agree on the model round after round', async () => {
    dashboard = await (await browsers[0]!.newContext({ viewport: LAPTOP })).newPage();
    await dashboard.goto(new URL('/dashboard/', url).href);
    for (let i = 0; i < 2; i++) {
      const browser = i === 0 ? browsers[0]! : await launchChromium();
      if (i > 0) browsers.push(browser);
      const context = await browser.newContext({ viewport: LAPTOP });
      const recorder = new WireRecorder(context);
      const page = await context.newPage();
      await recorder.watch(page);
      await page.goto(url);
      await page.setInputFiles('#files', tabData);
      await page.click('#start');
      tabs.push({ page, recorder, browser });
    }
    // Peers that start alone merge alone until they find each other and resynchronise, so early rounds
    // may differ; once the swarm has settled, the newest rounds everyone went through must have one model.
    const rounds = async () =>
      [workerId(), ...(await Promise.all(tabs.map((t) => text(t.page, '#f-peer'))))].map(announcedModels);
    const settled = await until(
      'the newest common rounds to agree',
      150_000,
      async () => {
        const maps = await rounds();
        const common = [...maps[0]!.keys()].filter((r) => maps.every((m) => m.has(r))).sort((a, b) => a - b);
        const newest = common.slice(-ROUNDS_TO_AGREE);
        const agree = newest.every((r) => new Set(maps.map((m) => m.get(r))).size === 1);
        return newest.length === ROUNDS_TO_AGREE && agree ? newest : null;
      },
      async () => {
        const names = ['worker', 'tab 1', 'tab 2'];
        const latest = (await rounds()).map((m, i) => {
          const last = [...m].sort((a, b) => a[0] - b[0]).slice(-3);
          return `${names[i]}: ${last.map(([r, h]) => `${r}→${h.slice(0, 8)}`).join(' ') || 'no round merged'}`;
        });
        const last = worker!.events.filter((e) => e.event === 'round').at(-1);
        const counts = last
          ? `worker's last round: ${last.accepted} deltas, refused ${JSON.stringify(last.rejected)}, ${last.resyncs} resyncs`
          : 'the worker merged no round';
        return `Newest merged rounds — ${latest.join('; ')}. ${counts}`;
      },
    );
    expect(settled).toHaveLength(ROUNDS_TO_AGREE);
    for (const tab of tabs) {
      // The page lists the rounds that merged its delta, with the model each gave.
      await until('the tab to list a merged round', 60_000, async () =>
        (await tabRounds(tab.page)).size > 0 ? true : null,
      );
      expect(Number(await text(tab.page, '#m-step'))).toBeGreaterThan(0);
      expect(await text(tab.page, '#tab-state')).toBe('training');
    }
  }, 180_000);

  /** Waits until tab i's `#m-peers` attribute (space-separated peer ids) names wanted[i], for every tab. */
  async function untilTabsList(what: string, attribute: string, wanted: string[]): Promise<void> {
    const listed = () =>
      Promise.all(
        tabs.map((t) => t.page.getAttribute('#m-peers', attribute).then((ids) => (ids ?? '').split(' '))),
      );
    await until(
      what,
      60_000,
      async () => ((await listed()).every((ids, i) => ids.includes(wanted[i]!)) ? true : null),
      async () => `${attribute}: ${JSON.stringify(await listed())}`,
    );
  }

  it('connects the two tabs directly over WebRTC and gossips over that channel', async () => {
    const [one, two] = await Promise.all(tabs.map((t) => text(t.page, '#f-peer')));
    await untilTabsList('each tab to list the other as a WebRTC peer', 'data-webrtc-peers', [two!, one!]);
    // Gossip (deltas, heartbeats, summaries) flows over the channel, not just the handshake.
    const sentOverWebRtc = (tab: Tab) => tab.recorder.dataChannelStreams().reduce((n, b) => n + b.length, 0);
    const flowing = await until('gossip to flow over the data channels', 60_000, async () => {
      const bytes = tabs.map(sentOverWebRtc);
      return bytes.every((n) => n > 16 * 1024) ? bytes : null;
    });
    expect(flowing).toHaveLength(2);
    // Each tab also reaches the Node worker directly, on the WebSocket address the coordinator lists.
    await untilTabsList('each tab to be connected to the worker', 'data-peers', [workerId(), workerId()]);
  }, 150_000);

  it('shows all four peers on the dashboard, told apart by role', async () => {
    const page = dashboard!;
    const tabIds = await Promise.all(tabs.map((t) => text(t.page, '#f-peer')));
    const expected = new Map([
      [coordinator!.listening.peerId, 'coordinator'],
      [workerId(), 'worker'],
      [tabIds[0]!, 'browser'],
      [tabIds[1]!, 'browser'],
    ]);
    await until('the dashboard to list every peer', 30_000, async () => {
      const chips = await page.$$eval('#peers li', (items) =>
        items.map((li) => [(li as HTMLElement).dataset.peerId, (li as HTMLElement).dataset.role]),
      );
      const roles = new Map(chips as [string, string][]);
      return [...expected].every(([id, role]) => roles.get(id) === role) ? roles : null;
    });
    expect(await page.getAttribute('#agreement', 'data-agree')).toBe('true');
    // The tabs' heartbeats name their WebRTC link, and the graph draws it as one.
    await until('the dashboard to show the WebRTC link', 30_000, async () =>
      Number(await page.getAttribute('#links', 'data-webrtc')) >= 1 ? true : null,
    );
  }, 60_000);

  it('resumes a reloaded tab from its IndexedDB checkpoint at the step it had reached', async () => {
    await resumesFromCheckpoint(tabs[0]!, async (page) => {
      await page.reload();
      return page;
    });
  }, 150_000);

  it('resumes a closed and reopened tab the same way', async () => {
    await resumesFromCheckpoint(tabs[1]!, async (page) => {
      const context = page.context();
      await page.close();
      const reopened = await context.newPage();
      await tabs[1]!.recorder.watch(reopened);
      await reopened.goto(url);
      return reopened;
    });
  }, 150_000);

  it('pauses between steps and resumes where it stopped', async () => {
    const { page } = tabs[1]!;
    await page.click('#pause');
    await until('the tab to pause', 10_000, async () =>
      (await text(page, '#tab-state')) === 'paused' ? true : null,
    );
    // A step already running finishes; after that the count must hold still.
    await page.waitForTimeout(2_000);
    const held = Number(await text(page, '#m-step'));
    await page.waitForTimeout(3_000);
    expect(Number(await text(page, '#m-step'))).toBe(held);
    await page.click('#pause');
    await until('the tab to resume', 10_000, async () =>
      (await text(page, '#tab-state')) === 'training' ? true : null,
    );
    await until('training to go on after resuming', 30_000, async () =>
      Number(await text(page, '#m-step')) > held ? true : null,
    );
  }, 60_000);

  it('lets one tab per browser volunteer: a second tab says so instead of joining as the same peer', async () => {
    const { page } = tabs[0]!;
    const second = await page.context().newPage();
    await second.goto(url);
    await until('the second tab to refuse', 30_000, async () =>
      (await text(second, '#tab-state')) === 'failed' ? true : null,
    );
    expect(await text(second, '#message')).toContain('already volunteering in another tab');
    await second.close();
    expect(await text(page, '#tab-state')).toBe('training');
  }, 60_000);

  it('continues a prompt from the shared model in the "Try the shared model" panel, and trains on', async () => {
    const { page } = tabs[0]!;
    const state = () => page.getAttribute('#try-output', 'data-state');
    const explain = async () => `Panel: ${await state()}, ${await text(page, '#try-status')}`;
    await until('the panel to be ready', 60_000, async () =>
      (await page.isEnabled('#try-generate')) ? true : null,
    );
    // The prompt carries the private marker: the test below checks that it never crossed the wire either.
    const prompt = `The swarm ${MARKER}`;
    await page.fill('#try-prompt', prompt);
    await page.fill('#try-max-tokens', '48');
    const stepBefore = Number(await text(page, '#m-step'));
    await page.click('#try-generate');
    await until(
      'the generation to end',
      60_000,
      async () => ((await state()) === 'done' ? true : null),
      explain,
    );
    const output = await text(page, '#try-output');
    expect(output.startsWith(prompt)).toBe(true);
    expect(output.length).toBeGreaterThan(prompt.length);
    expect(await text(page, '#try-status')).toBe('48 tokens.');
    // A long one streams in piece by piece (text shows while it is still sampling), and Stop ends it.
    await page.fill('#try-max-tokens', '512');
    await page.click('#try-generate');
    await page.waitForFunction(
      (length) => {
        const output = document.getElementById('try-output')!;
        if (output.dataset.state !== 'generating' || (output.textContent ?? '').length <= length)
          return false;
        document.getElementById('try-generate')!.click(); // Stop, at the first frame that shows text
        return true;
      },
      prompt.length,
      { polling: 'raf', timeout: 60_000 },
    );
    await until(
      'the generation to stop',
      30_000,
      async () => ((await state()) === 'done' ? true : null),
      explain,
    );
    expect(await text(page, '#try-status')).toMatch(/^\d+ tokens, stopped\.$/);
    // Training waited only while the compute worker sampled.
    await until('training to go on', 60_000, async () =>
      Number(await text(page, '#m-step')) > stepBefore ? true : null,
    );
    expect(await text(page, '#tab-state')).toBe('training');
    console.log(`"Try the shared model" panel, 48 tokens: ${JSON.stringify(output)}`);
  }, 180_000);

  it('never sends the volunteer text: not in WebSocket frames, data channels, request bodies or gossip', async () => {
    const forms = markerForms(MARKER);
    const tabIds = new Set(await Promise.all(tabs.map((t) => text(t.page, '#f-peer'))));
    const fromTabs = observer!.messages.filter((m) => tabIds.has(m.from));
    // The recorders and the observer did see the tabs' traffic, so finding nothing below means something.
    for (const tab of tabs) {
      expect(tab.recorder.frames.length).toBeGreaterThan(10);
      expect(tab.recorder.dataChannelStreams().length).toBeGreaterThan(0);
    }
    expect(fromTabs.length).toBeGreaterThan(0);
    const sent = [
      ...tabs.flatMap((t) => [
        ...t.recorder.frames,
        ...t.recorder.bodies,
        ...t.recorder.dataChannelStreams(),
      ]),
      ...observer!.messages.map((m) => m.data),
    ];
    const leaks = sent.filter((bytes) => forms.some((form) => indexOfBytes(bytes, form) >= 0));
    expect(leaks).toEqual([]);
    for (const tab of tabs) expect(tab.recorder.consoleErrors).toEqual([]);
  }, 60_000);

  it('leaves screenshots of both pages at both widths', async () => {
    for (const [name, page] of [
      ['volunteer', tabs[1]!.page],
      ['dashboard', dashboard!],
    ] as const) {
      await screenshot(page, `${name}-1280x800`);
      await page.setViewportSize(PHONE);
      await page.waitForTimeout(500);
      expect(await overflowing(page)).toEqual([]);
      await screenshot(page, `${name}-390x844`);
      await page.setViewportSize(LAPTOP);
    }
  }, 60_000);
});
