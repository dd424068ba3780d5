/**
 * The live loss curve: per-step training loss and each round's mean, against the global step. uPlot
 * redraws from plain arrays, so appends are cheap; the chart follows its container's width.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const HEIGHT = 260;
const STEP_TICKS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000];

export class LossChart {
  private readonly steps: number[] = [];
  private readonly stepLoss: (number | null)[] = [];
  private readonly roundLoss: (number | null)[] = [];
  private readonly plot: uPlot;
  private readonly resize: ResizeObserver;

  constructor(container: HTMLElement) {
    this.plot = new uPlot(
      {
        width: Math.max(container.clientWidth, 200),
        height: HEIGHT,
        scales: { x: { time: false } },
        // Steps are whole numbers: no ticks between them.
        axes: [{ label: 'step', incrs: STEP_TICKS }, { label: 'loss (nats/token)' }],
        series: [
          { label: 'step' },
          { label: 'step loss', stroke: '#2f6fde', width: 1.5, spanGaps: true },
          {
            label: 'round mean',
            stroke: '#23853b',
            width: 2,
            spanGaps: true,
            points: { show: true, size: 6 },
          },
        ],
      },
      [[], [], []],
      container,
    );
    this.resize = new ResizeObserver(() =>
      this.plot.setSize({ width: Math.max(container.clientWidth, 200), height: HEIGHT }),
    );
    this.resize.observe(container);
  }

  addStep(step: number, loss: number): void {
    this.push(step, loss, null);
  }

  addRound(step: number, meanLoss: number): void {
    this.push(step, null, meanLoss);
  }

  private push(step: number, loss: number | null, mean: number | null): void {
    // A resumed run replays nothing: steps only grow, but guard against an out-of-order event.
    const last = this.steps.at(-1);
    if (last !== undefined && step < last) return;
    this.steps.push(step);
    this.stepLoss.push(loss);
    this.roundLoss.push(mean);
    this.plot.setData([this.steps, this.stepLoss, this.roundLoss]);
  }
}
