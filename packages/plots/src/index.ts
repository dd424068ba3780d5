/**
 * Line charts for the benchmark docs, rendered headless to SVG by vega (no canvas, no native builds):
 * one line per series, optional dots, linear or log axes, optional horizontal reference lines.
 */
import * as vega from 'vega';

export interface Axis {
  title: string;
  type?: 'linear' | 'log';
  /** Log base (log axes). */
  base?: number;
  /** Start the axis at zero (linear axes). */
  zero?: boolean;
  /** Tick values to show instead of vega's choice. */
  values?: number[];
}

export interface LineChart {
  title: string;
  points: readonly { x: number; y: number; series: string }[];
  x: Axis;
  y: Axis;
  width?: number;
  height?: number;
  /** Mark every point with a dot (few points per line). */
  dots?: boolean;
  /**
   * Dashed horizontal lines across the whole plot for references that do not move with x (a baseline's
   * figure), in the legend under their label, and inside the y axis's range.
   */
  rules?: readonly { y: number; label: string }[];
}

function scale(name: 'x' | 'y', axis: Axis): vega.Scale {
  const range = name === 'x' ? 'width' : 'height';
  const domain =
    name === 'y'
      ? {
          fields: [
            { data: 'points', field: 'y' },
            { data: 'rules', field: 'y' },
          ],
        }
      : { data: 'points', field: name };
  return axis.type === 'log'
    ? { name, type: 'log', base: axis.base ?? 10, domain, range, nice: name === 'y' }
    : { name, type: 'linear', zero: axis.zero ?? false, nice: true, domain, range };
}

function spec(chart: LineChart): vega.Spec {
  const enter = { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' } };
  return {
    width: chart.width ?? 480,
    height: chart.height ?? 260,
    padding: 8,
    background: 'white',
    title: { text: chart.title },
    data: [
      { name: 'points', values: chart.points.map((p) => ({ ...p })) },
      // A rule is drawn in its label's colour: labels share the series' colour scale.
      { name: 'rules', values: (chart.rules ?? []).map((r) => ({ y: r.y, series: r.label })) },
    ],
    scales: [
      scale('x', chart.x),
      scale('y', chart.y),
      {
        name: 'color',
        type: 'ordinal',
        domain: {
          fields: [
            { data: 'points', field: 'series' },
            { data: 'rules', field: 'series' },
          ],
        },
        range: 'category',
      },
    ],
    axes: [
      {
        orient: 'bottom',
        scale: 'x',
        title: chart.x.title,
        ...(chart.x.values ? { values: chart.x.values } : {}),
      },
      {
        orient: 'left',
        scale: 'y',
        title: chart.y.title,
        ...(chart.y.values ? { values: chart.y.values } : {}),
      },
    ],
    legends: [{ stroke: 'color', orient: 'top-right' }],
    marks: [
      {
        type: 'rule',
        from: { data: 'rules' },
        encode: {
          enter: {
            x: { value: 0 },
            x2: { signal: 'width' },
            y: { scale: 'y', field: 'y' },
            stroke: { scale: 'color', field: 'series' },
            strokeWidth: { value: 1.5 },
            strokeDash: { value: [6, 4] },
          },
        },
      },
      {
        type: 'group',
        from: { facet: { name: 'series', data: 'points', groupby: 'series' } },
        marks: [
          {
            type: 'line',
            from: { data: 'series' },
            encode: {
              enter: { ...enter, stroke: { scale: 'color', field: 'series' }, strokeWidth: { value: 2 } },
            },
          },
          ...(chart.dots
            ? [
                {
                  type: 'symbol' as const,
                  from: { data: 'series' },
                  encode: { enter: { ...enter, fill: { scale: 'color', field: 'series' } } },
                },
              ]
            : []),
        ],
      },
    ],
  };
}

export async function lineChartSvg(chart: LineChart): Promise<string> {
  const view = new vega.View(vega.parse(spec(chart)), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
export { barChartSvg, type BarChart } from './bars.js';
