import { describe, expect, it } from 'vitest';
import { lineChartSvg } from '../src/index.js';

describe('lineChartSvg', () => {
  it('draws one line per series with its legend and axis titles', async () => {
    const svg = await lineChartSvg({
      title: 'loss per round',
      points: [0, 1, 2].flatMap((x) => [
        { x, y: 3 - x, series: 'swarm' },
        { x, y: 3.2 - x / 2, series: 'solo' },
      ]),
      x: { title: 'round' },
      y: { title: 'held-out loss', type: 'log' },
      dots: true,
    });
    expect(svg.startsWith('<svg')).toBe(true);
    for (const text of ['loss per round', 'round', 'held-out loss', 'swarm', 'solo'])
      expect(svg).toContain(text);
    expect(svg.match(/class="mark-line role-mark"/g)?.length).toBe(2); // a line per series
    expect(svg.match(/class="mark-symbol role-mark"/g)?.length).toBe(2); // and its dots
  });

  it('draws reference rules in the legend and inside the y range', async () => {
    const svg = await lineChartSvg({
      title: 'bits per byte',
      points: [0, 1].map((x) => ({ x, y: 3 - x, series: 'swarm' })),
      x: { title: 'round' },
      y: { title: 'bits per byte' },
      rules: [{ y: 0.5, label: 'xz primed' }],
    });
    expect(svg).toContain('xz primed');
    expect(svg.match(/class="mark-rule role-mark"/g)?.length).toBe(1);
    // The axis reaches down to the rule below every point.
    expect(svg).toContain('>0.5<');
  });
});
