/**
 * What `slimswarm-generate --json` prints, one JSON object a line: which model, every token as it is
 * sampled (with the text it completes), and a summary. Scripts and tests read them back through this schema.
 */
import { z } from 'zod';

const Count = z.number().int().min(0);

export const GenerateEvent = z.discriminatedUnion('event', [
  z.object({
    event: z.literal('model'),
    origin: z.string(),
    modelSha256: z.string(),
    params: Count,
    threads: Count,
  }),
  /** `text` is what this token completes: '' while a multi-byte character is incomplete. */
  z.object({ event: z.literal('token'), token: Count, text: z.string() }),
  z.object({
    event: z.literal('done'),
    /** Why generation ended: the decoder's reason ('maxTokens', 'stopToken', 'aborted'). */
    reason: z.string(),
    tokens: Count,
    /** What the text stream held back at the end (an incomplete character, shown as U+FFFD), or ''. */
    tail: z.string(),
    /** The whole continuation (without the prompt). */
    text: z.string(),
    tokensPerSec: z.number().finite().min(0),
  }),
  z.object({ event: z.literal('error'), name: z.string(), message: z.string() }),
]);
export type GenerateEvent = z.infer<typeof GenerateEvent>;
