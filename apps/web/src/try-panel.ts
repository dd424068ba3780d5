/**
 * The "Try the shared model" panel: a prompt, temperature and max tokens, a Generate/Stop button, and
 * the continuation streaming in as the compute worker samples it from the model this tab holds
 * (tab-session.ts `generate`). The prompt and the text stay in this tab: they go to the compute worker
 * only, never on the network.
 */
import { z } from 'zod';
import type { VolunteerSession } from './tab-session.js';

/**
 * The panel's settings as the inputs give them. Max tokens is capped: training waits while a generation
 * runs (tab-session.ts), so its length bounds that pause.
 */
export const TrySettings = z.object({
  prompt: z.string().min(1, 'write a prompt first'),
  temperature: z.number().finite().min(0).max(2),
  maxTokens: z.number().int().min(1).max(512),
});
export type TrySettings = z.infer<typeof TrySettings>;

/** What the output shows: nothing yet, text arriving, the end (and why), a failure. */
type TryState = 'idle' | 'generating' | 'done' | 'failed';

export interface TryElements {
  prompt: HTMLTextAreaElement;
  temperature: HTMLInputElement;
  maxTokens: HTMLInputElement;
  button: HTMLButtonElement;
  output: HTMLElement;
  status: HTMLElement;
}

export class TryPanel {
  private session: VolunteerSession | null = null;
  private available = false;
  private running: AbortController | null = null;

  constructor(private readonly ui: TryElements) {
    ui.button.addEventListener('click', () => (this.running ? this.running.abort() : void this.generate()));
    this.render();
  }

  /** The session to sample from, and whether it holds a shared model now. */
  use(session: VolunteerSession | null, available: boolean): void {
    this.session = session;
    this.available = session !== null && available;
    if (!this.available) this.running?.abort();
    this.render();
  }

  private settings(): TrySettings | string {
    const parsed = TrySettings.safeParse({
      prompt: this.ui.prompt.value,
      temperature: this.ui.temperature.valueAsNumber,
      maxTokens: this.ui.maxTokens.valueAsNumber,
    });
    return parsed.success ? parsed.data : (parsed.error.issues[0]?.message ?? 'check the settings');
  }

  private async generate(): Promise<void> {
    const settings = this.settings();
    if (typeof settings === 'string') return this.show('failed', settings);
    if (!this.session) return;
    const controller = new AbortController();
    this.running = controller;
    this.ui.output.textContent = settings.prompt;
    this.show('generating', 'Sampling in the compute worker…');
    try {
      const text = this.session.textStream();
      const tokens = this.session.generate(
        settings.prompt,
        { maxTokens: settings.maxTokens, temperature: settings.temperature, seed: randomSeed() },
        controller.signal,
      );
      let next = await tokens.next();
      for (; !next.done; next = await tokens.next()) this.ui.output.append(text.push(next.value));
      this.ui.output.append(text.end());
      const { reason, tokens: count } = next.value;
      this.show('done', `${count} tokens${reason === 'aborted' ? ', stopped' : ''}.`);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      this.show('failed', `${err.name}: ${err.message}`);
    } finally {
      this.running = null;
      this.render();
    }
  }

  private show(state: TryState, message: string): void {
    this.ui.output.dataset.state = state;
    this.ui.status.textContent = message;
    this.ui.status.dataset.kind = state === 'failed' ? 'error' : 'info';
  }

  private render(): void {
    this.ui.button.disabled = !this.running && !this.available;
    this.ui.button.textContent = this.running ? 'Stop' : 'Generate';
    if (!this.ui.output.dataset.state)
      this.ui.status.textContent = this.available
        ? 'Ready: sampling uses the model this tab holds now.'
        : 'Available once this tab has joined the swarm.';
  }
}

/** A fresh draw each time: the panel is for trying, not for reproducing (the CLI takes --seed). */
function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}
