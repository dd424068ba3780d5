/**
 * Turns a job private (--dp-noise, --dp-clip, --dp-delta; docs/privacy.md). Two other settings must
 * follow, or the manifest is refused: error feedback goes off (it would re-send held-back noise, round
 * after round), and the aggregation's norm bound rises to what an honest noised delta may reach
 * (privateDeltaNormBound), or every receiver would refuse the private deltas. A bound already higher stays.
 */
import {
  JobManifest,
  privateDeltaNormBound,
  trainableParamCount,
  type PrivacyConfig,
} from '@slimswarm/protocol';

export function withPrivacy(manifest: JobManifest, privacy: PrivacyConfig): JobManifest {
  const needed = privateDeltaNormBound(privacy, trainableParamCount(manifest));
  return JobManifest.parse({
    ...manifest,
    privacy,
    compression: { ...manifest.compression, errorFeedback: false },
    aggregation: { ...manifest.aggregation, normBound: Math.max(manifest.aggregation.normBound, needed) },
  });
}
