/**
 * What the worker keeps beside its identity key (`identity.key` in --checkpoint-dir): the job keys it
 * pinned per coordinator (`job-keys.json`, trust on first use) and its admission stamp for the job
 * (`admission.json`, minted once for this identity). Both are JSON, validated on read and replaced
 * atomically, so a crash never leaves a half-written pin that would lock the worker out of its job.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@slimswarm/node-compat/fs';
import { JobKeyPinsRecord, StoredStamp, type JobKeyPins, type StampStore } from '@slimswarm/client';
import type { z } from 'zod';
import { IncompatibleCheckpointError } from './errors.js';

async function readJson<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S> | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new IncompatibleCheckpointError(`${path} is not JSON`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new IncompatibleCheckpointError(`${path}: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

const json = (value: unknown): string => JSON.stringify(value, null, 2) + '\n';

/** Job keys pinned per coordinator origin, in `dir/job-keys.json`. */
export function filePins(dir: string): JobKeyPins {
  const path = join(dir, 'job-keys.json');
  return {
    get: async (coordinator) => (await readJson(path, JobKeyPinsRecord))?.[coordinator] ?? null,
    async set(coordinator, jobKey) {
      const pins = (await readJson(path, JobKeyPinsRecord)) ?? {};
      await writeFileAtomic(path, json({ ...pins, [coordinator]: jobKey }), 0o600);
    },
  };
}

/** The admission stamp for this identity, in `dir/admission.json`. */
export function fileStamps(dir: string): StampStore {
  const path = join(dir, 'admission.json');
  return {
    load: () => readJson(path, StoredStamp),
    save: (stamp) => writeFileAtomic(path, json(stamp), 0o600),
  };
}
