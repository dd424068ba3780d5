/**
 * The dashboard page: loads the job from the coordinator (same origin), joins the swarm as a passive peer
 * and redraws the views from the SwarmState at most a few times a second.
 */
// First: zod must not compile schemas with `new Function` under the coordinator's CSP.
import '@slimswarm/protocol/jitless';
import './style.css';
import 'uplot/dist/uPlot.min.css';
import { SwarmFeed, fetchJobListing } from './feed.js';
import type { Edge, SwarmState } from './state.js';
import { PeerColours, ROLE_COLOURS, shortId } from './views/palette.js';
import { PeerSeriesChart } from './views/peer-series.js';
import { RoundsChart } from './views/rounds-chart.js';
import { TopologyView } from './views/topology.js';

const REDRAW_MS = 250;
/** Liveness fades with time alone, so the views are also redrawn without news. */
const IDLE_REDRAW_MS = 2000;

function element(id: string): HTMLElement {
  const found = document.getElementById(id);
  if (!found) throw new Error(`page is missing #${id}`);
  return found;
}

function isLocalHost(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname === '[::1]' ||
    /^127\./.test(hostname) ||
    /^(10|192\.168)\./.test(hostname) ||
    /^172\.(1[6-9]|2\d|3[01])\./.test(hostname)
  );
}

function setLink(state: 'connecting' | 'connected' | 'failed', text: string): void {
  const link = element('link');
  link.dataset.state = state;
  link.textContent = text;
}

class Dashboard {
  private readonly colours = new PeerColours();
  private readonly topology = new TopologyView(element('topology'));
  private readonly loss = new PeerSeriesChart(element('loss'), 'nats/token', (s) => s.loss, this.colours);
  private readonly tps = new PeerSeriesChart(element('tps'), 'tokens/s', (s) => s.tokensPerSec, this.colours);
  private readonly sent = new PeerSeriesChart(element('sent'), 'KiB', (s) => s.bytesOut / 1024, this.colours);
  private readonly rounds = new RoundsChart(element('rounds'));
  private pending = false;

  constructor(private readonly feed: SwarmFeed) {
    feed.onChange(() => this.schedule());
    setInterval(() => this.draw(), IDLE_REDRAW_MS);
    new ResizeObserver(() => this.topology.resize()).observe(element('topology'));
    this.draw();
  }

  private schedule(): void {
    if (this.pending) return;
    this.pending = true;
    setTimeout(() => {
      this.pending = false;
      this.draw();
    }, REDRAW_MS);
  }

  private draw(): void {
    const state = this.feed.state;
    const now = Date.now();
    const connected = state.peers.get(state.selfId)?.connectedPeers.length ?? 0;
    if (connected === 0) setLink('connecting', 'looking for peers…');
    else setLink('connected', `connected to ${connected} peer${connected === 1 ? '' : 's'}`);
    const edges = state.edges();
    this.topology.update(state, edges, now);
    this.drawLinks(edges);
    this.drawPeers(state, now);
    this.drawAgreement(state, now);
    this.drawRound(state, now);
    this.drawRejected(state);
    this.drawPrivacy(state, now);
    this.loss.update(state);
    this.tps.update(state);
    this.sent.update(state);
    this.rounds.update(state);
  }

  private drawLinks(edges: readonly Edge[]): void {
    const webRtc = edges.filter((e) => e.webRtc).length;
    const links = element('links');
    links.dataset.webrtc = String(webRtc);
    links.textContent =
      `${edges.length} connection${edges.length === 1 ? '' : 's'}` +
      (webRtc > 0 ? `, ${webRtc} of them direct WebRTC between tabs (dashed)` : '');
  }

  private drawPeers(state: SwarmState, now: number): void {
    element('peers').replaceChildren(
      ...state.peerList().map((p) => {
        const chip = document.createElement('li');
        const role = p.role ?? 'unknown';
        chip.textContent = `${role} ${shortId(p.id)}${p.id === state.selfId ? ' (this dashboard)' : ''}`;
        chip.title = p.id;
        chip.dataset.peerId = p.id;
        chip.dataset.role = role;
        chip.dataset.live = String(state.isLive(p, now));
        chip.style.setProperty('--chip', ROLE_COLOURS[role]);
        return chip;
      }),
    );
  }

  private drawAgreement(state: SwarmState, now: number): void {
    const bar = element('agreement');
    const text = element('agreement-text');
    const agreement = state.agreement(now);
    if (!agreement) {
      bar.replaceChildren();
      bar.dataset.agree = 'unknown';
      text.textContent = "waiting for trainers' heartbeats";
      return;
    }
    const total = agreement.groups.reduce((n, g) => n + g.peers.length, 0);
    bar.dataset.agree = String(agreement.agree);
    bar.dataset.round = String(agreement.round);
    bar.replaceChildren(
      ...agreement.groups.map((g, i) => {
        const segment = document.createElement('span');
        segment.style.width = `${(100 * g.peers.length) / total}%`;
        segment.style.background = i === 0 ? 'var(--ok)' : 'var(--bad)';
        segment.title = `${g.modelSha256.slice(0, 12)}: ${g.peers.map(shortId).join(', ')}`;
        return segment;
      }),
    );
    const elsewhere = agreement.elsewhere > 0 ? `; ${agreement.elsewhere} at other rounds` : '';
    text.textContent =
      (agreement.agree
        ? `all ${total} honest trainer(s) at round ${agreement.round} hold model ${agreement.groups[0]!.modelSha256.slice(0, 12)}`
        : `${agreement.groups.length} different models among ${total} trainers at round ${agreement.round}`) +
      elsewhere;
  }

  private drawRound(state: SwarmState, now: number): void {
    const progress = state.roundProgress(now);
    const bar = element('round-bar');
    const text = element('round-text');
    if (!progress) {
      bar.style.width = '0';
      text.textContent = '–';
      return;
    }
    bar.style.width = `${Math.min(100, (100 * progress.delivered) / progress.trainers)}%`;
    text.textContent = `round ${progress.round}: ${progress.delivered} of ${progress.trainers} trainers delivered a delta`;
  }

  /** A private job's trainers and the ε each says it spent (self-reported; see docs/privacy.md). */
  private drawPrivacy(state: SwarmState, now: number): void {
    const privacy = this.feed.manifest.privacy;
    const card = element('privacy-card');
    card.hidden = !privacy;
    if (!privacy) return;
    element('privacy-text').textContent =
      `Gaussian noise z = ${privacy.noiseMultiplier} on deltas clipped to C = ${privacy.clipNorm}; ε at δ = ${privacy.delta}. ` +
      'Self-reported: each peer counts its own releases and nobody can check its noise.';
    const trainers = state.peerList().filter((p) => p.reportedEpsilon !== null && state.isLive(p, now));
    element('privacy').replaceChildren(
      ...trainers.map((p) => {
        const row = document.createElement('li');
        row.dataset.peerId = p.id;
        row.dataset.epsilon = String(p.reportedEpsilon);
        row.textContent = `${p.role ?? 'peer'} ${shortId(p.id)}: reported ε ${p.reportedEpsilon!.toFixed(2)}`;
        row.title = p.id;
        return row;
      }),
    );
  }

  private drawRejected(state: SwarmState): void {
    const entries = [...state.rejected.entries()].sort((a, b) => b[1] - a[1]);
    const max = Math.max(1, ...entries.map(([, n]) => n));
    element('rejected').replaceChildren(
      ...entries.flatMap(([reason, count]) => {
        const label = document.createElement('span');
        label.textContent = `${reason} (${count})`;
        const bar = document.createElement('div');
        bar.className = 'bar';
        bar.style.width = `${(100 * count) / max}%`;
        return [label, bar];
      }),
    );
    element('rejected-text').textContent =
      entries.length === 0 ? 'none: every message seen here was valid' : 'as validated by this dashboard';
  }
}

try {
  const listing = await fetchJobListing(location.origin);
  element('job').textContent = listing.manifest.title || listing.manifest.jobId;
  const feed = await SwarmFeed.connect({ listing, local: isLocalHost(location.hostname) });
  new Dashboard(feed);
} catch (e) {
  const err = e instanceof Error ? e : new Error(String(e));
  setLink('failed', `${err.name}: ${err.message}`);
}
