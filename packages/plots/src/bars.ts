/**
 * Horizontal bar charts for the benchmark docs (one bar per category, e.g. one per attack), rendered
 * headless to SVG by vega like the line charts; an optional rule marks a reference value (1 for ratios,
 * 0 for differences).
 */
import * as vega from 'vega';

export interface BarChart {
  title: string;
  bars: readonly { category: string; value: number }[];
  /** Title of the value axis. */
  value: string;
  /** Draw a vertical rule at this value. */
  reference?: number;
  width?: number;
  /** Height of one bar's band. */
  band?: number;
}

function spec(chart: BarChart): vega.Spec {
  const band = chart.band ?? 22;
  const values = chart.bars.map((b) => ({ ...b }));
  const domain = [...values.map((b) => b.value), ...(chart.reference !== undefined ? [chart.reference] : [])];
  return {
    width: chart.width ?? 420,
    height: band * Math.max(1, values.length),
    padding: 8,
    background: 'white',
    title: { text: chart.title },
    data: [{ name: 'bars', values }],
    scales: [
      { name: 'y', type: 'band', domain: { data: 'bars', field: 'category' }, range: 'height', padding: 0.2 },
      {
        name: 'x',
        type: 'linear',
        domain: [Math.min(0, ...domain), Math.max(0, ...domain)],
        range: 'width',
        nice: true,
        zero: true,
      },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: chart.value },
      { orient: 'left', scale: 'y' },
    ],
    marks: [
      {
        type: 'rect',
        from: { data: 'bars' },
        encode: {
          enter: {
            y: { scale: 'y', field: 'category' },
            height: { scale: 'y', band: 1 },
            x: { scale: 'x', value: 0 },
            x2: { scale: 'x', field: 'value' },
            fill: { value: '#4c78a8' },
          },
        },
      },
      {
        type: 'text',
        from: { data: 'bars' },
        encode: {
          enter: {
            y: { scale: 'y', field: 'category', band: 0.5 },
            x: { scale: 'x', field: 'value', offset: 4 },
            baseline: { value: 'middle' },
            text: { signal: "format(datum.value, '.3~r')" },
            fontSize: { value: 10 },
          },
        },
      },
      ...(chart.reference !== undefined
        ? [
            {
              type: 'rule' as const,
              encode: {
                enter: {
                  x: { scale: 'x', value: chart.reference },
                  y: { value: 0 },
                  y2: { signal: 'height' },
                  stroke: { value: '#888' },
                  strokeDash: { value: [4, 3] },
                },
              },
            },
          ]
        : []),
    ],
  };
}

export async function barChartSvg(chart: BarChart): Promise<string> {
  const view = new vega.View(vega.parse(spec(chart)), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
