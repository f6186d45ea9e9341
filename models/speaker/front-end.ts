/**
 * The features a speaker-embedding export expects, read from its metadata_props exactly as sherpa-onnx reads them
 * (speaker-embedding-extractor-{model,nemo-model}.cc, -general-impl.h, -nemo-impl.h, features.cc), so that an
 * export gives the same embedding here as in sherpa-onnx (test/models/speaker/sherpa-parity.test.ts checks it).
 *
 * WeSpeaker and 3D-Speaker (framework "wespeaker" / "3d-speaker"), sherpa-onnx's "general" extractor:
 * kaldi-native-fbank with sherpa-onnx's settings: 25/10 ms Povey frames WITHOUT snipped edges (Kaldi's reflection at
 * both ends), DC removal, pre-emphasis 0.97, no dither, 20 Hz to Nyquist - 400 Hz (7600 Hz at 16 kHz), feature_dim
 * 80. normalize_samples "0" scales samples to int16 range first (WeSpeaker). feature_normalize_type "global-mean"
 * subtracts the utterance mean of each bin; absent or empty, nothing (the WeSpeaker exports carry none: their own
 * runtime subtracts the mean, sherpa-onnx does not, and earshot follows sherpa-onnx). Input [1, T, 80].
 *
 * NeMo (framework "nemo": TitaNet, SpeakerNet): window_size_ms / window_stride_ms frames with snipped edges, no DC
 * removal, pre-emphasis 0.97, the window named by window_type (default "povey" when absent, as sherpa-onnx reads it;
 * NeMo's exports say "hann", the periodic one), librosa's Slaney mel filters from 0 Hz to Nyquist - 400 Hz over
 * feat_dim bins, samples in [-1, 1]. feature_normalize_type "per_feature" standardises each bin over the utterance
 * ((x - mean) / (sqrt(max(var, 1e-5)) + 1e-5)). Inputs [1, feat_dim, T] and the frame count (int64 [1]); the
 * embedding is the SECOND output (the first is the classifier's logits).
 *
 * No framework in the metadata (sherpa-onnx refuses such a model): the WeSpeaker project's own exports
 * (Wespeaker/* on the hub, pyannote's) carry none, so WeSpeaker's own recipe (wespeaker/cli/speaker.py): torchaudio's
 * Kaldi fbank with its defaults (snipped edges, 20 Hz to Nyquist), int16-scaled samples, utterance mean subtracted;
 * normalize_samples / feature_normalize_type still count when present.
 */
import {
  type FbankOptions,
  type FeatureNormalization,
  WINDOW_TYPES,
  type WindowType,
} from '../../audio/fbank.js';
import { SpeakerEmbeddingError } from './embedding.js';

export type SpeakerFramework = 'wespeaker' | '3d-speaker' | 'nemo';

export interface SpeakerFrontEnd {
  /** undefined: no framework in the metadata (an export sherpa-onnx refuses): WeSpeaker's own recipe. */
  framework?: SpeakerFramework;
  fbank: FbankOptions & { numBins: number };
  /** Multiplies the [-1, 1] samples before the fbank: 32768 when normalize_samples is "0". */
  sampleScale: number;
  normalization: FeatureNormalization;
  /** nemo: features transposed to [batch, bins, frames], a second input with the frame counts, output 1. */
  layout: 'general' | 'nemo';
}

/** sherpa-onnx's FeatureExtractorConfig.high_freq: Nyquist minus 400 Hz, for every speaker model. */
const SHERPA_HIGH_FREQ = -400;

function intKey(meta: Record<string, string>, key: string, name: string, fallback: number): number {
  const raw = meta[key];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v <= 0)
    throw new SpeakerEmbeddingError(`${name}: metadata ${key}="${raw}" is not a positive integer`);
  return v;
}

export function speakerFrontEnd(meta: Record<string, string>, name: string): SpeakerFrontEnd {
  const framework = meta.framework;
  if (
    framework !== undefined &&
    framework !== 'wespeaker' &&
    framework !== '3d-speaker' &&
    framework !== 'nemo'
  ) {
    throw new SpeakerEmbeddingError(
      `${name}: metadata framework="${framework}" is not a speaker-embedding framework earshot runs (wespeaker, 3d-speaker or nemo)`,
    );
  }
  const fnt = meta.feature_normalize_type ?? '';
  if (framework === 'nemo') {
    if (fnt !== '' && fnt !== 'per_feature') {
      throw new SpeakerEmbeddingError(
        `${name}: feature_normalize_type "${fnt}" is not supported for NeMo (per_feature or none)`,
      );
    }
    const window = (meta.window_type || 'povey') as WindowType;
    if (!WINDOW_TYPES.includes(window)) {
      throw new SpeakerEmbeddingError(
        `${name}: window_type "${window}" is not one of ${WINDOW_TYPES.join(', ')}`,
      );
    }
    return {
      framework,
      fbank: {
        numBins: intKey(meta, 'feat_dim', name, 80),
        frameLengthMs: intKey(meta, 'window_size_ms', name, 25),
        frameShiftMs: intKey(meta, 'window_stride_ms', name, 25),
        snipEdges: true,
        window,
        removeDcOffset: false,
        lowFreq: 0,
        highFreq: SHERPA_HIGH_FREQ,
        melBanks: 'librosa',
      },
      sampleScale: 1,
      normalization: fnt === 'per_feature' ? 'per-feature' : 'none',
      layout: 'nemo',
    };
  }
  if (fnt !== '' && fnt !== 'global-mean') {
    throw new SpeakerEmbeddingError(
      `${name}: feature_normalize_type "${fnt}" is not supported (global-mean or none)`,
    );
  }
  // sherpa-onnx requires normalize_samples; without it, 3D-Speaker's exports are [-1, 1], the rest int16.
  const normalizeSamples = meta.normalize_samples ?? (framework === '3d-speaker' ? '1' : '0');
  const recipe = framework === undefined;
  return {
    framework,
    fbank: recipe ? { numBins: 80 } : { numBins: 80, snipEdges: false, highFreq: SHERPA_HIGH_FREQ },
    sampleScale: Number(normalizeSamples) === 0 ? 32768 : 1,
    normalization:
      fnt === 'global-mean' || (recipe && meta.feature_normalize_type === undefined) ? 'global-mean' : 'none',
    layout: 'general',
  };
}
