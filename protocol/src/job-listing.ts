import { z } from 'zod';
import { PROTOCOL_LIMITS } from './constants.js';
import { AdmissionStamp } from './admission.js';
import { SignedJob } from './job-signature.js';

const IceServerUrl = z
  .string()
  .regex(/^(stun|stuns|turn|turns):[^\s]{1,250}$/, 'expected a stun: or turn: URL');

/** A STUN or TURN server for WebRTC between browsers (the shape of RTCIceServer). */
export const IceServer = z
  .object({
    urls: z.union([IceServerUrl, z.array(IceServerUrl).min(1).max(4)]),
    username: z.string().max(256).optional(),
    credential: z.string().max(256).optional(),
  })
  .strict();
export type IceServer = z.infer<typeof IceServer>;

/**
 * What a coordinator answers at `GET /api/job` (plain JSON over HTTP, not a frame): the signed job, the
 * coordinator's own peer id (it sends no heartbeats), addresses to dial — its own first, then the
 * peers it is connected to (browser tabs by their relayed WebRTC address), so newcomers mesh with the
 * other trainers directly — and the STUN/TURN servers tabs use to reach each other (empty: host
 * candidates only, enough on one machine or network).
 */
export const JobListing = z
  .object({
    job: SignedJob,
    coordinatorPeerId: z.string().min(1).max(128),
    bootstrap: z.array(z.string().startsWith('/').max(1024)).max(64),
    iceServers: z.array(IceServer).max(PROTOCOL_LIMITS.maxIceServers),
  })
  .strict();
export type JobListing = z.infer<typeof JobListing>;

/** Peer ids as libp2p writes them (base58btc multihash, `12D3KooW…` for Ed25519 keys). */
const PeerIdText = z.string().regex(/^[1-9A-HJ-NP-Za-km-z]{1,128}$/, 'expected a base58 peer id');

/** `POST /api/ticket`: an invite code of the operator's, traded for a ticket admitting `peerId`. */
export const TicketRequest = z.object({ peerId: PeerIdText, invite: z.string().min(1).max(256) }).strict();
export type TicketRequest = z.infer<typeof TicketRequest>;

/** The answer: the job key's ticket for `peerId` in `jobId` (an AdmissionStamp of kind `ticket`). */
export const TicketGrant = z
  .object({
    jobId: z.string().min(1).max(PROTOCOL_LIMITS.maxJobIdLength),
    peerId: PeerIdText,
    ticket: AdmissionStamp,
  })
  .strict();
export type TicketGrant = z.infer<typeof TicketGrant>;
