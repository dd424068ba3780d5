/**
 * Generated English-like prose for pretraining the base model: the project owns every byte of it, so
 * nothing is downloaded and the base checkpoint can be rebuilt anywhere (`npm run pretrain`). A small
 * seeded grammar gives the model word shapes, spacing, capitals and punctuation to learn; the fine-tuning
 * corpus (the repository's own docs and sources) is a different domain, so fine-tuning has work to do.
 */
import { Rng } from '@slimswarm/performer';

const SUBJECTS = [
  'the volunteer',
  'a small worker',
  'the old browser',
  'every peer',
  'the swarm',
  'a tired student',
  'the careful engineer',
  'our shared model',
  'the quiet network',
  'a distant laptop',
  'the first round',
  'each chunk',
  'the river',
  'a bright morning',
  'the library',
  'my neighbour',
];
const VERBS = [
  'reads',
  'writes',
  'sends',
  'keeps',
  'finds',
  'learns',
  'counts',
  'carries',
  'opens',
  'follows',
  'builds',
  'checks',
  'remembers',
  'shares',
  'watches',
  'measures',
];
const OBJECTS = [
  'the long text',
  'a short letter',
  'every word',
  'the last state',
  'a gentle answer',
  'the numbers',
  'the open door',
  'a new idea',
  'the whole story',
  'its own notes',
  'the weather',
  'a simple rule',
  'the next page',
  'the map',
  'a warm cup of tea',
  'the evening news',
];
const ENDINGS = [
  'before noon',
  'after the rain',
  'with great care',
  'again and again',
  'in the garden',
  'at night',
  'without a sound',
  'for a friend',
  'by the window',
  'every day',
  'in a hurry',
  'once more',
];
const CONNECTIVES = ['and then', 'but', 'because', 'while', 'so'];

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.nextU32() % items.length]!;
}

function clause(rng: Rng): string {
  const parts = [pick(rng, SUBJECTS), pick(rng, VERBS), pick(rng, OBJECTS)];
  if (rng.uniform() < 0.5) parts.push(pick(rng, ENDINGS));
  return parts.join(' ');
}

function sentence(rng: Rng): string {
  let s = clause(rng);
  if (rng.uniform() < 0.35) s += `, ${pick(rng, CONNECTIVES)} ${clause(rng)}`;
  if (rng.uniform() < 0.15) s += ` ${1 + (rng.nextU32() % 99)} times`;
  const end = rng.uniform() < 0.1 ? '?' : rng.uniform() < 0.1 ? '!' : '.';
  return s.charAt(0).toUpperCase() + s.slice(1) + end;
}

/** About `bytes` bytes of prose in paragraphs, the same for the same seed. */
export function syntheticProse(seed: number, bytes: number): string {
  const rng = new Rng(seed, 'default-job/prose');
  const paragraphs: string[] = [];
  let size = 0;
  while (size < bytes) {
    const count = 2 + (rng.nextU32() % 5);
    const paragraph = Array.from({ length: count }, () => sentence(rng)).join(' ');
    paragraphs.push(paragraph);
    size += paragraph.length + 2;
  }
  return paragraphs.join('\n\n').slice(0, bytes);
}
