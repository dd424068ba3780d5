/**
 * How `slimswarm-generate` shows its work: plain text (the prompt, then the continuation as it is
 * sampled, on stdout; the model line on stderr, so stdout pipes as text alone), or JSON lines
 * (generate-events.ts).
 */
import type { GenerateEvent } from './generate-events.js';

export type GenerateDisplay = (event: GenerateEvent) => void;

type Write = (text: string) => void;
const stdout: Write = (t) => void process.stdout.write(t);
const stderr: Write = (t) => void process.stderr.write(t);

export function jsonGenerateDisplay(write: Write = stdout): GenerateDisplay {
  return (event) => write(JSON.stringify(event) + '\n');
}

export function textGenerateDisplay(
  prompt: string,
  out: Write = stdout,
  err: Write = stderr,
): GenerateDisplay {
  return (event) => {
    switch (event.event) {
      case 'model':
        err(
          `model: ${event.origin} · ${event.params.toLocaleString('en')} parameters · ${event.modelSha256.slice(0, 12)}\n`,
        );
        out(prompt);
        break;
      case 'token':
        out(event.text);
        break;
      case 'done':
        out(event.tail + '\n');
        err(`${event.tokens} tokens · ${event.tokensPerSec.toFixed(1)} tokens/s · ended: ${event.reason}\n`);
        break;
      case 'error':
        err(`slimswarm-generate: ${event.name}: ${event.message}\n`);
        break;
    }
  };
}
