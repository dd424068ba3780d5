import { sha256 } from '@noble/hashes/sha2.js';
import type { z } from 'zod';
import { bytesToHex } from '@noble/hashes/utils.js';
import { SchemaViolationError } from './errors.js';
import { JobManifest, type DeltaAnnouncement } from './messages.js';
import { describeIssues } from './json-bounds.js';

/** Lower-case hex SHA-256 of the bytes (synchronous, and the same in browsers and Node). */
export function sha256Hex(bytes: Uint8Array): string {
  return bytesToHex(sha256(bytes));
}

/**
 * JSON with object keys sorted by UTF-16 code unit at every level and no whitespace, so equal values give
 * equal strings. Numbers use JavaScript's shortest round-trip form (so -0 becomes 0); `undefined` object
 * members are left out as JSON.stringify does. Throws SchemaViolationError for what JSON cannot hold
 * (NaN, ±Infinity, bigint, functions, undefined array items) instead of writing something lossy.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new SchemaViolationError(`canonical JSON cannot hold ${value}`);
      return JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + canonicalJson(value[i]);
        return `${out}]`;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new SchemaViolationError('canonical JSON holds only plain objects and arrays');
      }
      const record = value as Record<string, unknown>;
      let out = '{';
      for (const key of Object.keys(record).sort()) {
        const member = record[key];
        if (member === undefined) continue;
        out += `${out.length > 1 ? ',' : ''}${JSON.stringify(key)}:${canonicalJson(member)}`;
      }
      return `${out}}`;
    }
    default:
      throw new SchemaViolationError(`canonical JSON cannot hold a ${typeof value}`);
  }
}

const utf8 = new TextEncoder();

/** Named one by one, so that whatever else a header object carries (its `part`) is never signed. */
const SIGNED_DELTA_FIELDS = [
  'type',
  'version',
  'jobId',
  'round',
  'baseRound',
  'baseModelSha256',
  'stats',
  'codec',
  'payloadBytes',
  'payloadSha256',
  'partDigests',
] as const;

/**
 * What a delta's author signs: a domain tag with the protocol version, then the canonical JSON of every
 * header field that says what the delta is (not `part`, which differs per gossip slice, nor the
 * signature itself, nor the admission stamp, which is bound to the author's peer id on its own). The
 * payload is covered through `payloadSha256`, each gossip slice through `partDigests`.
 */
export function deltaSigningBytes(
  header: Omit<DeltaAnnouncement, 'part' | 'authorSignature' | 'admission'>,
): Uint8Array {
  const signed = Object.fromEntries(SIGNED_DELTA_FIELDS.map((field) => [field, header[field]]));
  return utf8.encode(`slimswarm/delta-signature/${header.version}\n${canonicalJson(signed)}`);
}

/**
 * Digest that names a job manifest. The manifest is validated first and defaults are filled in, so a
 * manifest that spells out a default and one that leaves it out get the same digest.
 */
export function manifestSha256(manifest: z.input<typeof JobManifest>): string {
  const parsed = JobManifest.safeParse(manifest);
  if (!parsed.success) {
    throw new SchemaViolationError(`invalid job manifest: ${describeIssues(parsed.error)}`);
  }
  return sha256Hex(utf8.encode(canonicalJson(parsed.data)));
}
