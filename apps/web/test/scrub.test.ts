/**
 * Local PII scrubbing in the tab, in Chromium: with the box checked (the default) the page shows what was
 * removed, and a planted email address never reaches the gradient engine; unchecked, it does — the same
 * observation, so the check is known to see the address when it is there.
 *
 * What reaches the engine is observed at the one door it has: every message the page posts to a Web
 * Worker (Worker.prototype.postMessage, wrapped before the page's scripts run). Training batches are the
 * remote engine's `lossAndGrad` and `loss` requests; their token ids are decoded here as the small job's
 * byte tokenizer would (ids are bytes), before the buffer is transferred away.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { pageSuite } from './harness.js';

const PLANTED = 'planted.volunteer@example.org';
const LINES = 200;
const BATCHES = '__engineBatches';
/** Batches to see before judging: each is 129 of the text's bytes, drawn from all of it (shuffled). */
const ENOUGH_BATCHES = 8;

const suite = pageSuite();
let text: string;

beforeAll(async () => {
  text = join(suite.dir, 'notes.txt');
  await writeFile(text, `Meeting notes: write to ${PLANTED} for the minutes of the day.\n`.repeat(LINES));
});

/** Runs in the page before its scripts: keeps the text of every training batch posted to a worker. */
function recordEngineBatches(key: string): void {
  const batches: string[] = [];
  (globalThis as unknown as Record<string, string[]>)[key] = batches;
  const post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (this: Worker, message: unknown, ...rest: never[]) {
    const m = message as { type?: string; tokens?: unknown };
    if ((m?.type === 'lossAndGrad' || m?.type === 'loss') && m.tokens instanceof Int32Array) {
      batches.push(String.fromCharCode(...m.tokens));
    }
    return post.call(this, message, ...rest);
  } as typeof Worker.prototype.postMessage;
}

const batches = (page: Page) =>
  page.evaluate((key) => (globalThis as unknown as Record<string, string[]>)[key] ?? [], BATCHES);

/** A fresh volunteer (its own context: own storage, own lock) that picks the file and starts. */
async function volunteer(scrub: boolean): Promise<Page> {
  const context = await suite.browser.newContext();
  await context.addInitScript(recordEngineBatches, BATCHES);
  const page = await context.newPage();
  await page.goto(suite.coordinator.listening.http);
  expect(await page.isChecked('#scrub')).toBe(true); // on unless the volunteer says otherwise
  if (!scrub) await page.uncheck('#scrub');
  await page.setInputFiles('#files', text);
  await page.click('#start');
  await page.waitForFunction(
    ({ key, enough }) => ((globalThis as unknown as Record<string, string[]>)[key]?.length ?? 0) >= enough,
    { key: BATCHES, enough: ENOUGH_BATCHES },
    { timeout: 90_000 },
  );
  return page;
}

describe('PII scrubbing in the tab', () => {
  it('shows what it removed, and the planted address never reaches the engine', async () => {
    const page = await volunteer(true);
    // The first batches need the shuffle buffer full, i.e. the whole (small) text read once.
    await page.waitForSelector('#scrubbed[data-complete="true"]', { timeout: 30_000 });
    expect(await page.getAttribute('#scrubbed', 'data-email')).toBe(String(LINES));
    expect(await page.textContent('#scrubbed')).toContain(`${LINES} email addresses`);
    const seen = await batches(page);
    expect(seen.length).toBeGreaterThanOrEqual(ENOUGH_BATCHES);
    expect(seen.filter((b) => b.includes('planted') || b.includes('@example'))).toEqual([]);
    expect(seen.some((b) => b.includes('write to <email> for'))).toBe(true);
    await page.context().close();
  }, 150_000);

  it('with the box unchecked the engine is handed the address (what the check above would see)', async () => {
    const page = await volunteer(false);
    expect(await page.isHidden('#scrubbed')).toBe(true);
    expect((await batches(page)).some((b) => b.includes(PLANTED))).toBe(true);
    await page.context().close();
  }, 150_000);
});
