/**
 * The volunteer page: picks files, starts a volunteer session (session.ts: the swarm peer and the
 * volunteer loop; gradients in a compute worker) and draws what it reports.
 */
// First: zod must not compile schemas with `new Function` under the coordinator's CSP.
import '@slimswarm/protocol/jitless';
import './style.css';
import { describeScrubCounts, type VolunteerEvent } from '@slimswarm/client';
import { NoDataError } from './errors.js';
import { LossChart } from './loss-chart.js';
import { VolunteerSession, type SessionUpdate, type TabState } from './tab-session.js';
import { VolunteerStorage, type StoredFile } from './storage.js';
import { TryPanel } from './try-panel.js';
import { VOLUNTEER_EVENT } from './page-events.js';

function element<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`page is missing #${id}`);
  return found as T;
}

const ui = {
  state: element('tab-state'),
  files: element<HTMLInputElement>('files'),
  fileList: element('file-list'),
  scrub: element<HTMLInputElement>('scrub'),
  scrubbed: element('scrubbed'),
  start: element<HTMLButtonElement>('start'),
  pause: element<HTMLButtonElement>('pause'),
  forget: element<HTMLButtonElement>('forget'),
  message: element('message'),
  loss: element('m-loss'),
  tokensPerSec: element('m-tps'),
  memory: element('m-memory'),
  round: element('m-round'),
  step: element('m-step'),
  peers: element('m-peers'),
  epsilonTile: element('t-epsilon'),
  epsilon: element('m-epsilon'),
  compute: element('f-compute'),
  peer: element('f-peer'),
  model: element('f-model'),
  resumed: element('f-resumed'),
  checkpoint: element('f-checkpoint'),
  rounds: element('rounds'),
  tryModel: {
    prompt: element<HTMLTextAreaElement>('try-prompt'),
    temperature: element<HTMLInputElement>('try-temperature'),
    maxTokens: element<HTMLInputElement>('try-max-tokens'),
    button: element<HTMLButtonElement>('try-generate'),
    output: element('try-output'),
    status: element('try-status'),
  },
};

/** Rounds listed under "Merged rounds"; older ones are dropped from the page. */
const ROUNDS_SHOWN = 50;
const MEMORY_MEASURE_MS = 10_000;

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** A private job's ε tile: shown once the loop reports one (it never does outside private jobs). */
function showEpsilon(epsilon: number | undefined): void {
  if (epsilon === undefined) return;
  ui.epsilonTile.hidden = false;
  ui.epsilon.textContent = epsilon.toFixed(2);
  ui.epsilon.dataset.epsilon = String(epsilon);
}

/**
 * What scrubbing replaced in the volunteer's files, for the volunteer's eyes only (the counts are in no
 * message the tab sends). Each count is also a data attribute (data-email, …) for tests and embedders.
 */
function showScrubbed(e: Extract<VolunteerEvent, { event: 'scrubbed' }>): void {
  ui.scrubbed.textContent = `Removed from your text before training${e.complete ? '' : ' (so far)'}: ${describeScrubCounts(e.counts)}.`;
  for (const [kind, count] of Object.entries(e.counts)) ui.scrubbed.dataset[kind] = String(count);
  ui.scrubbed.dataset.complete = String(e.complete);
  ui.scrubbed.hidden = false;
}

function say(text: string, kind: 'info' | 'error' = 'info'): void {
  ui.message.textContent = text;
  ui.message.dataset.kind = kind;
}

class VolunteerPage {
  private session: VolunteerSession | null = null;
  private state: TabState = 'idle';
  private files: StoredFile[] = [];
  private lastStep = 0;
  private readonly chart = new LossChart(element('loss-chart'));
  private readonly tryPanel = new TryPanel(ui.tryModel);

  constructor(private readonly storage: VolunteerStorage) {}

  async init(): Promise<void> {
    this.files = await this.storage.files();
    this.showFiles();
    ui.files.addEventListener('change', () => void this.pick([...(ui.files.files ?? [])]).catch(this.fail));
    ui.start.addEventListener('click', () => void this.start().catch(this.fail));
    ui.pause.addEventListener('click', () => void this.togglePause().catch(this.fail));
    ui.forget.addEventListener('click', () => void this.forget().catch(this.fail));
    const intent = await this.storage.intent();
    if (intent.train && this.files.length > 0) {
      say('Resuming with the files you chose earlier.');
      await this.start(intent.paused);
    }
    this.render();
  }

  private readonly fail = (e: unknown) => {
    const err = e instanceof Error ? e : new Error(String(e));
    say(`${err.name}: ${err.message}`, 'error');
  };

  private async pick(files: File[]): Promise<void> {
    const usable = files.filter((f) => f.size > 0);
    if (usable.length === 0) throw new NoDataError('the chosen files are empty');
    this.files = await this.storage.setFiles(usable);
    this.showFiles();
    say(`${usable.length} file(s) ready. They stay in this browser.`);
    this.render();
  }

  private showFiles(): void {
    ui.fileList.replaceChildren(
      ...this.files.map((f) => {
        const item = document.createElement('li');
        item.textContent = `${f.name} (${formatBytes(f.size)})`;
        return item;
      }),
    );
  }

  private async start(paused = false): Promise<void> {
    if (this.files.length === 0) throw new NoDataError('choose at least one non-empty text file first');
    if (this.session) return;
    await this.storage.setIntent({ train: true, paused });
    this.session = new VolunteerSession((update) => this.receive(update));
    this.tryPanel.use(this.session, false);
    ui.scrubbed.hidden = true;
    this.session.start({ coordinator: location.origin, scrub: ui.scrub.checked }, paused);
  }

  private async togglePause(): Promise<void> {
    const pausing = this.state !== 'paused';
    if (pausing) this.session?.pause();
    else this.session?.resume();
    await this.storage.setIntent({ train: true, paused: pausing });
  }

  private async forget(): Promise<void> {
    const session = this.session;
    this.session = null;
    await session?.stop();
    await this.storage.forget();
    this.files = [];
    ui.files.value = '';
    this.showFiles();
    this.setState('idle');
    say('Your files and checkpoints were deleted from this browser.');
  }

  private receive(message: SessionUpdate): void {
    switch (message.type) {
      case 'state':
        this.setState(message.state);
        break;
      case 'backend': {
        const c = message.compute;
        ui.compute.textContent =
          c.backend === 'webgpu'
            ? 'WebGPU'
            : `wasm, ${c.threads} thread${c.threads > 1 ? 's' : ''}` +
              (c.crossOriginIsolated ? '' : ' (not cross-origin isolated)') +
              (c.fallbackReason ? ` — ${c.fallbackReason}` : '');
        break;
      }
      case 'volunteer':
        this.show(message.event);
        break;
      case 'model':
        this.tryPanel.use(this.session, message.available);
        break;
      case 'network': {
        const direct = message.webRtcPeers.length;
        const count = message.peers.length;
        ui.peers.textContent = direct > 0 ? `${count} (${direct} by WebRTC)` : String(count);
        ui.peers.dataset.peers = message.peers.join(' ');
        ui.peers.dataset.webrtcPeers = message.webRtcPeers.join(' ');
        break;
      }
    }
  }

  private show(e: VolunteerEvent): void {
    // The same events as a DOM event, for what embeds or drives the page (the scale bench follows them).
    window.dispatchEvent(new CustomEvent(VOLUNTEER_EVENT, { detail: e }));
    switch (e.event) {
      case 'ready':
        ui.peer.textContent = e.peerId;
        ui.resumed.textContent = e.resumedFromStep === null ? 'a fresh start' : `step ${e.resumedFromStep}`;
        ui.resumed.dataset.step = String(e.resumedFromStep ?? '');
        showEpsilon(e.epsilon);
        break;
      case 'synced':
        this.showModel(e.modelSha256);
        ui.round.textContent = String(e.round);
        break;
      case 'step':
        this.lastStep = e.step;
        this.chart.addStep(e.step, e.loss);
        ui.loss.textContent = e.loss.toFixed(3);
        ui.tokensPerSec.textContent = e.tokensPerSec.toFixed(0);
        ui.step.textContent = String(e.step);
        ui.round.textContent = String(e.round);
        break;
      case 'round':
        this.chart.addRound(this.lastStep, e.meanLoss);
        ui.round.textContent = String(e.round + 1);
        if (e.memoryBytes > 0) ui.memory.textContent = formatBytes(e.memoryBytes);
        this.showModel(e.modelSha256);
        this.listRound(e);
        showEpsilon(e.epsilon);
        break;
      case 'scrubbed':
        showScrubbed(e);
        break;
      case 'checkpoint':
        ui.checkpoint.textContent = `step ${e.step}, round ${e.round}`;
        ui.checkpoint.dataset.step = String(e.step);
        break;
      case 'eval':
        break;
      case 'stopped':
        say(`Stopped: ${e.reason}.`);
        break;
      case 'error':
        say(`${e.name}: ${e.message}`, 'error');
        break;
    }
  }

  private listRound(e: Extract<VolunteerEvent, { event: 'round' }>): void {
    const item = document.createElement('li');
    item.value = e.round;
    item.dataset.round = String(e.round);
    item.dataset.sha256 = e.modelSha256;
    const model = document.createElement('code');
    model.textContent = e.modelSha256.slice(0, 12);
    item.append(`${e.accepted} delta${e.accepted === 1 ? '' : 's'} merged → model `, model);
    // A slow tab's steps may have started from an earlier round's model (the job's maxStaleness).
    if (e.baseRound < e.round) item.append(` · ours from round ${e.baseRound}`);
    ui.rounds.prepend(item);
    while (ui.rounds.children.length > ROUNDS_SHOWN) ui.rounds.lastElementChild?.remove();
  }

  /**
   * Memory of the whole tab, the compute worker and its wasm heap included. Chromium offers the
   * measurement only to cross-origin-isolated pages; elsewhere the tile shows what the loop reports.
   */
  measureMemory(): void {
    const measure = (
      performance as { measureUserAgentSpecificMemory?: () => Promise<{ bytes: number }> }
    ).measureUserAgentSpecificMemory?.bind(performance);
    if (!measure || !crossOriginIsolated) return;
    const update = () =>
      measure().then(
        (m) => (ui.memory.textContent = formatBytes(m.bytes)),
        () => {},
      );
    void update();
    setInterval(update, MEMORY_MEASURE_MS);
  }

  private showModel(sha256: string): void {
    ui.model.textContent = sha256.slice(0, 16);
    ui.model.dataset.sha256 = sha256;
  }

  private setState(state: TabState): void {
    this.state = state;
    if (state === 'stopped' || state === 'failed') {
      this.session = null;
      this.tryPanel.use(null, false);
    }
    this.render();
  }

  private render(): void {
    ui.state.textContent = this.state;
    ui.state.dataset.state = this.state;
    ui.start.disabled = this.files.length === 0 || this.session !== null;
    // A running session keeps the choice it started with (its sequences are already being made).
    ui.scrub.disabled = this.session !== null;
    ui.pause.disabled = this.state !== 'training' && this.state !== 'paused';
    ui.pause.textContent = this.state === 'paused' ? 'Resume' : 'Pause';
  }
}

const storage = await VolunteerStorage.open();
const page = new VolunteerPage(storage);
page.measureMemory();
await page.init();
