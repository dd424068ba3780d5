/**
 * A metric over time, one line per training peer (uPlot). Samples arrive at different times per peer, so
 * the x axis is the union of receive times and each line spans its gaps. The plot is rebuilt only when
 * the set of peers changes.
 */
import uPlot from 'uplot';
import type { Sample, SwarmState } from '../state.js';
import { type PeerColours, shortId } from './palette.js';

const HEIGHT = 220;

export class PeerSeriesChart {
  private plot: uPlot | null = null;
  private peers: string[] = [];

  constructor(
    private readonly container: HTMLElement,
    private readonly yLabel: string,
    private readonly pick: (s: Sample) => number | null,
    private readonly colours: PeerColours,
  ) {
    new ResizeObserver(() => this.plot?.setSize({ width: this.width(), height: HEIGHT })).observe(container);
  }

  update(state: SwarmState): void {
    const peers = [...state.samples.keys()].sort();
    if (peers.length === 0) return;
    const times = [...new Set(peers.flatMap((p) => state.samples.get(p)!.map((s) => s.at)))].sort(
      (a, b) => a - b,
    );
    const index = new Map(times.map((t, i) => [t, i]));
    const columns = peers.map((p) => {
      const column: (number | null)[] = new Array(times.length).fill(null);
      for (const s of state.samples.get(p)!) column[index.get(s.at)!] = this.pick(s);
      return column;
    });
    const data: uPlot.AlignedData = [times.map((t) => t / 1000), ...columns];
    if (!this.plot || peers.join() !== this.peers.join()) {
      this.plot?.destroy();
      this.peers = peers;
      this.plot = new uPlot(
        {
          width: this.width(),
          height: HEIGHT,
          legend: { show: true },
          axes: [{}, { label: this.yLabel, size: 60 }],
          series: [
            {},
            ...peers.map((p) => ({
              label: `${state.peers.get(p)?.role ?? 'peer'} ${shortId(p)}`,
              stroke: this.colours.of(p),
              width: 1.5,
              spanGaps: true,
            })),
          ],
        },
        data,
        this.container,
      );
    } else this.plot.setData(data);
  }

  private width(): number {
    return Math.max(this.container.clientWidth, 200);
  }
}
