/**
 * Per round: the encoded size of the deltas this dashboard saw (sum over contributors) and the gossip
 * bytes they took on the wire here, as bars (uPlot), with the number of contributors as a line and how
 * many of them came from peers slower than a round (based on an earlier round's model) as a dashed one.
 */
import uPlot from 'uplot';
import type { SwarmState } from '../state.js';

const HEIGHT = 220;

export class RoundsChart {
  private readonly plot: uPlot;

  constructor(private readonly container: HTMLElement) {
    const bars = uPlot.paths.bars!({ size: [0.4, 40] });
    this.plot = new uPlot(
      {
        width: this.width(),
        height: HEIGHT,
        scales: {
          x: { time: false },
          y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
          n: { range: (_u, _min, max) => [0, Math.max(1, max + 1)] },
        },
        axes: [
          // Rounds are whole numbers: no ticks between them.
          { label: 'round', incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] },
          { label: 'KiB', size: 60 },
          { scale: 'n', side: 1, label: 'deltas', grid: { show: false } },
        ],
        series: [
          { label: 'round' },
          { label: 'delta payload KiB', stroke: '#2f6fde', fill: '#2f6fde55', paths: bars },
          { label: 'wire KiB here', stroke: '#e07a1f', width: 2 },
          { label: 'deltas', scale: 'n', stroke: '#23853b', width: 2, points: { show: true } },
          { label: 'from an earlier round', scale: 'n', stroke: '#8a3ffc', width: 2, dash: [6, 4] },
        ],
      },
      [[], [], [], [], []],
      container,
    );
    new ResizeObserver(() => this.plot.setSize({ width: this.width(), height: HEIGHT })).observe(container);
  }

  update(state: SwarmState): void {
    const rounds = [...state.rounds.values()].sort((a, b) => a.round - b.round);
    this.plot.setData([
      rounds.map((r) => r.round),
      rounds.map((r) => [...r.deltaBytes.values()].reduce((a, b) => a + b, 0) / 1024),
      rounds.map((r) => r.wireBytes / 1024),
      rounds.map((r) => r.contributors.size),
      rounds.map((r) => r.stale.size),
    ]);
  }

  private width(): number {
    return Math.max(this.container.clientWidth, 200);
  }
}
