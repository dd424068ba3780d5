/**
 * @slimswarm/swarm — libp2p peers that gossip compressed weight deltas and merge them, round by round,
 * into bitwise-identical replicas (no central compute). The volunteer loop needs only:
 *
 *   const peer = await createNodePeer({ listen: ['/ip4/0.0.0.0/tcp/0'], bootstrap: [...] });
 *   const replica = await createSwarmReplica({ peer, manifest, initialWeights });  // + syncFromPeers: true
 *   for (;;) {
 *     const base = replica.current();                          // { round, sha256, weights } (copies)
 *     const local = await train(base.weights);                  // H local steps (client code)
 *     await replica.contribute(base, local, { tokens, steps, meanLoss });
 *     await replica.nextRound();                                // merged g_{r+1}
 *   }
 *   await replica.stop(); await peer.stop();
 *
 * Dashboards listen to `peer.services.swarm.events` (SwarmEventMap), read `stats()`, and judge deltas with
 * the same `checkDelta` every peer uses.
 * The model hash is SHA-256 of the canonical safetensors of the weights (`modelSha256`); a base checkpoint
 * written that way has the hash the manifest must name.
 */
export {
  PeerConfig,
  GossipConfig,
  SwarmTimings,
  parsePeerConfig,
  type PeerConfigInput,
} from './peer-config.js';
export {
  createNodePeer,
  createBrowserPeer,
  newIdentityBytes,
  type PeerInstrumentation,
  type SwarmPeer,
  type SwarmServices,
} from './peer.js';
export {
  swarmService,
  SwarmService,
  type SwarmServiceComponents,
  type SwarmServiceInit,
} from './swarm-service.js';
export type { SwarmNetwork, FrameStream, GossipIn, GossipVerdict, StreamProtocol } from './network.js';
export type { SwarmStats } from './stats.js';
export {
  createSwarmReplica,
  SwarmReplica,
  type CreateReplicaOptions,
  type ReplicaSnapshot,
  type ContributeResult,
  type TrainerProgress,
} from './replica.js';
export { SwarmEvents, type SwarmEventMap, type SwarmEventName } from './events.js';
export {
  REJECT_REASONS,
  IGNORE_REASONS,
  checkDelta,
  checkPayload,
  decodeJobFrame,
  rejected,
  ignored,
  verdictOfDecodeError,
  type DeltaCheck,
  type DeltaContext,
  type RoundView,
  type Refusal,
  type RejectReason,
  type IgnoreReason,
} from './delta-verdict.js';
export { observerVerdict, observeJob, jobTopics, type ObserverVerdict } from './observer.js';
export {
  AdmittedPeers,
  ADMITTED_CAP,
  ownStamp,
  type AdmissionCheck,
  type JobAdmission,
} from './admission.js';
export {
  SCORE_THRESHOLDS,
  GraylistGuard,
  jobTopicScoreParams,
  scoreTopic,
  scoringOf,
  type GossipScoring,
} from './gossip-scoring.js';
export { RoundState, type RoundStateInit, type Verdict } from './round-state.js';
export { Bans, MAX_BANNED, buildEvidence, checkEvidence } from './equivocation.js';
export { roundIsDue } from './round-rule.js';
export { isTrainer } from './liveness.js';
export { fetchHistory, SyncGate, DEFAULT_SYNC_LIMITS, type SyncLimits } from './weight-sync.js';
export { HistoryReplay, type ReplayRoot, type RecordIn } from './history-replay.js';
export { DeltaLog, encodeRoundRecord, type LoggedRound, type LoggedDelta } from './delta-log.js';
export { HistorySync, ACTIVE_WINDOW_ROUNDS } from './history-sync.js';
export { privatizeDelta, cryptoNormals, type NormalSource } from './private-delta.js';
export { PrivacyBudget, type PrivacySpent } from './privacy-budget.js';
export {
  ErrorFeedbackEncoder,
  encodeDelta,
  decodeDelta,
  deltaShapeOf,
  topkCount,
  QUANT_BLOCK,
  type CodecTensors,
  type DeltaShape,
} from './codec.js';
export {
  aggregate,
  clipToRound,
  nesterovStep,
  trimmedMean,
  sparseTrimmedMean,
  centeredClip,
  meanAggregate,
  compactDelta,
  densify,
  type HeldDelta,
  type SparseDelta,
} from './aggregate.js';
export { ModelLayout, compareCodeUnits, type Weights } from './model-layout.js';
export { modelSha256, encodeDeltaPayload } from './wire.js';
export { chooseResyncTarget, type NeighbourView, type ResyncTarget } from './resync.js';
export * from './errors.js';
export { dialableBy, webRtcPeers } from './transports.js';
