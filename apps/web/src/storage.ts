/**
 * The tab's IndexedDB: the text files the volunteer picked (so a reload can resume without asking
 * again; they stay in this browser), the latest checkpoint per job, whether to resume, the peer's
 * identity key (so a reloaded tab is the same peer to the swarm) with its admission stamp (minted once),
 * and the job key pinned per coordinator (trust on first use). Every record is validated on the way
 * out, because a page of another version may have written it.
 */
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import {
  JobKeyPinsRecord,
  StoredStamp,
  VolunteerState,
  type JobKeyPins,
  type SavedVolunteer,
  type StampStore,
  type VolunteerStore,
} from '@slimswarm/client';
import { z } from 'zod';
import { CorruptStorageError } from './errors.js';

const DB_NAME = 'slimswarm-volunteer';
const DB_VERSION = 1;

export const StoredFile = z
  .object({
    name: z.string().min(1),
    size: z.number().int().min(0),
    lastModified: z.number().int().min(0),
    blob: z.instanceof(Blob),
  })
  .strict();
export type StoredFile = z.infer<typeof StoredFile>;

/** The volunteer loop's saved state: the trainer checkpoint bytes and which job and round they belong to. */
export const StoredCheckpoint = z
  .object({
    jobId: z.string().min(1),
    state: VolunteerState,
    checkpoint: z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'expected bytes'),
  })
  .strict()
  .refine((c) => c.state.jobId === c.jobId, { message: 'state belongs to another job' });
export type StoredCheckpoint = z.infer<typeof StoredCheckpoint>;

/** Whether the volunteer wants training to continue by itself after a reload. */
export const StoredIntent = z.object({ train: z.boolean(), paused: z.boolean() }).strict();
export type StoredIntent = z.infer<typeof StoredIntent>;

/** The libp2p private key, protobuf-encoded (checked as a key when the peer is created). */
const StoredIdentity = z.custom<Uint8Array>(
  (v) => v instanceof Uint8Array && v.byteLength > 0,
  'expected key bytes',
);

interface VolunteerDb extends DBSchema {
  files: { key: string; value: StoredFile };
  checkpoints: { key: string; value: StoredCheckpoint };
  settings: { key: string; value: unknown };
}

function parse<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new CorruptStorageError(`stored ${what} is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

export class VolunteerStorage {
  private constructor(private readonly db: IDBPDatabase<VolunteerDb>) {}

  static async open(): Promise<VolunteerStorage> {
    const db = await openDB<VolunteerDb>(DB_NAME, DB_VERSION, {
      upgrade(db) {
        db.createObjectStore('files', { keyPath: 'name' });
        db.createObjectStore('checkpoints', { keyPath: 'jobId' });
        db.createObjectStore('settings');
      },
    });
    return new VolunteerStorage(db);
  }

  /** Replaces the stored files with `files` (one entry per name). */
  async setFiles(files: readonly File[]): Promise<StoredFile[]> {
    const stored = files.map((f) => ({ name: f.name, size: f.size, lastModified: f.lastModified, blob: f }));
    const tx = this.db.transaction('files', 'readwrite');
    await tx.store.clear();
    for (const file of stored) await tx.store.put(file);
    await tx.done;
    return stored;
  }

  async files(): Promise<StoredFile[]> {
    return (await this.db.getAll('files')).map((f) => parse(StoredFile, f, 'file'));
  }

  async saveCheckpoint(checkpoint: StoredCheckpoint): Promise<void> {
    await this.db.put('checkpoints', parse(StoredCheckpoint, checkpoint, 'checkpoint'));
  }

  /** The volunteer loop's store for one job. */
  volunteerStore(jobId: string): VolunteerStore {
    return {
      load: async () => {
        const found = await this.checkpoint(jobId);
        return found && { checkpoint: found.checkpoint, state: found.state };
      },
      save: async (saved: SavedVolunteer) => {
        await this.saveCheckpoint({ jobId, ...saved });
        return `this browser's IndexedDB (round ${saved.state.round})`;
      },
    };
  }

  async checkpoint(jobId: string): Promise<StoredCheckpoint | null> {
    const found = await this.db.get('checkpoints', jobId);
    return found === undefined ? null : parse(StoredCheckpoint, found, 'checkpoint');
  }

  async intent(): Promise<StoredIntent> {
    const found = await this.db.get('settings', 'intent');
    return found === undefined ? { train: false, paused: false } : parse(StoredIntent, found, 'intent');
  }

  async setIntent(intent: StoredIntent): Promise<void> {
    await this.db.put('settings', intent, 'intent');
  }

  /** This browser's peer identity, made by `create` the first time. */
  async identity(create: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const found = await this.db.get('settings', 'identity');
    if (found !== undefined) return parse(StoredIdentity, found, 'identity');
    const made = await create();
    await this.db.put('settings', made, 'identity');
    return made;
  }

  /** The job keys this browser pinned, per coordinator origin. */
  jobKeyPins(): JobKeyPins {
    const pins = async () => {
      const found = await this.db.get('settings', 'job-keys');
      return found === undefined ? {} : parse(JobKeyPinsRecord, found, 'job keys');
    };
    return {
      get: async (coordinator) => (await pins())[coordinator] ?? null,
      set: async (coordinator, jobKey) => {
        await this.db.put('settings', { ...(await pins()), [coordinator]: jobKey }, 'job-keys');
      },
    };
  }

  /** The identity's admission stamp (kept with the identity, and forgotten with it). */
  stampStore(): StampStore {
    return {
      load: async () => {
        const found = await this.db.get('settings', 'admission');
        return found === undefined ? null : parse(StoredStamp, found, 'admission stamp');
      },
      save: async (stamp) => {
        await this.db.put('settings', stamp, 'admission');
      },
    };
  }

  /** Deletes the volunteer's files, checkpoints, intent, identity, stamp and pins: nothing of theirs is left. */
  async forget(): Promise<void> {
    const tx = this.db.transaction(['files', 'checkpoints', 'settings'], 'readwrite');
    await Promise.all([
      tx.objectStore('files').clear(),
      tx.objectStore('checkpoints').clear(),
      tx.objectStore('settings').clear(),
    ]);
    await tx.done;
  }

  close(): void {
    this.db.close();
  }
}
