/**
 * The pages under the coordinator's Content-Security-Policy, in Chromium, on a private job: the tab
 * trains (its compute worker loads onnxruntime's wasm) and shows its ε, the dashboard shows that tab's
 * reported ε, and neither page nor worker meets a CSP violation on the way.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConsoleMessage, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { pageSuite } from './harness.js';

const DP_FLAGS = ['--dp-noise', '1', '--dp-clip', '1', '--dp-delta', '1e-6'];
const VIOLATIONS = '__cspViolations';

const suite = pageSuite(DP_FLAGS);

/** Records every CSP violation a page's document reports (its workers report theirs on the console). */
function recordViolations(key: string): void {
  const seen: string[] = [];
  (globalThis as unknown as Record<string, string[]>)[key] = seen;
  document.addEventListener('securitypolicyviolation', (e) =>
    seen.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`),
  );
}

const isCspMessage = (m: ConsoleMessage) => /Content Security Policy|Refused to/i.test(m.text());

async function open(path: string, cspMessages: string[]): Promise<Page> {
  const context = await suite.browser.newContext();
  await context.addInitScript(recordViolations, VIOLATIONS);
  const page = await context.newPage();
  const listen = (m: ConsoleMessage) => {
    if (isCspMessage(m)) cspMessages.push(`${path}: ${m.text()}`);
  };
  page.on('console', listen);
  page.on('worker', (w) => w.on('console', listen));
  const response = await page.goto(new URL(path, suite.coordinator.listening.http).href);
  expect(response?.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
  expect(response?.headers()['x-content-type-options']).toBe('nosniff');
  return page;
}

const violations = (page: Page) =>
  page.evaluate((key) => (globalThis as unknown as Record<string, string[]>)[key] ?? [], VIOLATIONS);

describe('a private job in Chromium, under the CSP', () => {
  it('trains in a tab that shows its ε, the dashboard shows it, and nothing breaks the CSP', async () => {
    const cspMessages: string[] = [];
    const dashboard = await open('/dashboard/', cspMessages);
    const tab = await open('/', cspMessages);
    const text = join(suite.dir, 'tab.txt');
    await writeFile(
      text,
      'A volunteer writes a few lines of plain text for the swarm to learn.\n'.repeat(200),
    );
    await tab.setInputFiles('#files', text);
    await tab.click('#start');

    // The ready event shows the tile at 0; the first closed round (a lone tab closes its own) raises it.
    await tab.waitForFunction(() => Number(document.getElementById('m-epsilon')?.dataset.epsilon) > 0, null, {
      timeout: 90_000,
    });
    expect(await tab.isVisible('#t-epsilon')).toBe(true);
    const epsilon = Number(await tab.getAttribute('#m-epsilon', 'data-epsilon'));
    // One release of the Gaussian mechanism at z = 1 and δ = 1e-6 costs ε ≈ 5.2 (docs/privacy.md).
    expect(epsilon).toBeGreaterThan(4);

    // The dashboard lists the tab with the ε its heartbeats report, and says whose word it is.
    const peerId = await tab.textContent('#f-peer');
    await dashboard.waitForSelector(`#privacy li[data-peer-id="${peerId}"]`, { timeout: 60_000 });
    expect(await dashboard.isVisible('#privacy-card')).toBe(true);
    expect(await dashboard.textContent('#privacy-text')).toContain('Self-reported');

    expect(await violations(tab)).toEqual([]);
    expect(await violations(dashboard)).toEqual([]);
    expect(cspMessages).toEqual([]);
  }, 180_000);
});
