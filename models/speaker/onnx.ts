/**
 * ONNX speaker-embedding models in the layout the field publishes (WeSpeaker ResNet, 3D-Speaker CAM++/ERes2Net as
 * exported for sherpa-onnx): one float input of Kaldi fbank [batch, frames, 80] (named `feats`, `x`, ...: the first
 * input is used), one output [batch, dim].
 *
 * metadata_props, as sherpa-onnx reads them, when present:
 * - sample_rate: must be 16000 (clips are 16 kHz);
 * - output_dim: the embedding size (else learnt from one run at load);
 * - normalize_samples: "0" = the model expects int16-scaled samples (WeSpeaker), else [-1, 1] (3D-Speaker);
 *   absent: [-1, 1] for framework 3d-speaker, else int16 scale (WeSpeaker's recipe and sherpa-onnx's default);
 * - feature_normalize_type: "global-mean" subtracts the utterance mean of each bin. WeSpeaker's recipe applies the
 *   same cepstral mean normalisation before the network, so it is also the default when the key is absent.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import ort from 'onnxruntime-node';
import { ModelLoadError } from '../errors.js';
import { KaldiFbank, subtractMean } from '../../audio/fbank.js';
import {
  EMBEDDING_SAMPLE_RATE,
  type SpeakerEmbedder,
  type SpeakerSpread,
  SpeakerEmbeddingError,
  l2normalize,
} from './embedding.js';

export interface OnnxEmbedderOptions {
  /** Intra-op threads; default 1. */
  threads?: number;
  /** Same-speaker cosine threshold; default 0.5. */
  threshold?: number;
  /** Most clips per run; default 16. */
  maxBatch?: number;
}

/** Top-level ModelProto metadata_props (field 14: StringStringEntryProto {1: key, 2: value}). */
export function readModelMetadata(bytes: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const dec = new TextDecoder();
  const varint = (buf: Uint8Array, pos: { p: number }): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (pos.p >= buf.length) throw new SpeakerEmbeddingError('truncated ONNX model (varint past the end)');
      const b = buf[pos.p++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  };
  const fields = (buf: Uint8Array, visit: (field: number, value: Uint8Array) => void): void => {
    const pos = { p: 0 };
    while (pos.p < buf.length) {
      const tag = varint(buf, pos);
      const wire = tag & 7;
      const field = Math.floor(tag / 8);
      if (wire === 0) varint(buf, pos);
      else if (wire === 1) pos.p += 8;
      else if (wire === 5) pos.p += 4;
      else if (wire === 2) {
        const len = varint(buf, pos);
        if (pos.p + len > buf.length) throw new SpeakerEmbeddingError('truncated ONNX model');
        visit(field, buf.subarray(pos.p, pos.p + len));
        pos.p += len;
      } else throw new SpeakerEmbeddingError(`not an ONNX model (protobuf wire type ${wire})`);
    }
  };
  fields(bytes, (field, value) => {
    if (field !== 14) return;
    let key = '';
    let val = '';
    fields(value, (f, v) => {
      if (f === 1) key = dec.decode(v);
      else if (f === 2) val = dec.decode(v);
    });
    out[key] = val;
  });
  return out;
}

/**
 * Speaker networks (ResNet, ECAPA) score two 2.5 s pieces of one voice around cosine 0.7 and of two voices around
 * 0.15: their spread when the model's metadata says nothing else.
 */
const NETWORK_SPREAD: SpeakerSpread = { within: 0.3, between: 0.55 };

export class OnnxEmbedder implements SpeakerEmbedder {
  readonly name: string;
  readonly sameSpeakerThreshold: number;
  readonly spread = NETWORK_SPREAD;
  readonly minSeconds = 0.3;
  dim: number;
  private readonly fbank = new KaldiFbank();
  private readonly sampleScale: number;
  private readonly meanNormalize: boolean;
  private readonly maxBatch: number;

  constructor(
    private readonly session: ort.InferenceSession,
    readonly metadata: Record<string, string>,
    name: string,
    opts: OnnxEmbedderOptions,
  ) {
    this.name = name;
    this.sameSpeakerThreshold = opts.threshold ?? 0.5;
    this.maxBatch = opts.maxBatch ?? 16;
    const rate = metadata.sample_rate;
    if (rate !== undefined && Number(rate) !== EMBEDDING_SAMPLE_RATE) {
      throw new SpeakerEmbeddingError(
        `${name} expects ${rate} Hz audio; only 16000 Hz speaker models are supported`,
      );
    }
    const normalizeSamples = metadata.normalize_samples ?? (metadata.framework === '3d-speaker' ? '1' : '0');
    this.sampleScale = normalizeSamples === '0' ? 32768 : 1;
    const fnt = metadata.feature_normalize_type ?? 'global-mean';
    if (fnt !== '' && fnt !== 'global-mean') {
      throw new SpeakerEmbeddingError(
        `${name}: feature_normalize_type "${fnt}" is not supported (only global-mean)`,
      );
    }
    this.meanNormalize = fnt === 'global-mean';
    this.dim = Number(metadata.output_dim ?? 0);
  }

  private features(clip: Float32Array): Float32Array {
    const f = this.fbank.compute(clip, this.sampleScale);
    if (f.frames < 10) {
      throw new SpeakerEmbeddingError(
        `a ${(clip.length / EMBEDDING_SAMPLE_RATE).toFixed(3)} s clip is too short for a speaker embedding`,
      );
    }
    return (this.meanNormalize ? subtractMean(f) : f).data;
  }

  async embed(clips: readonly Float32Array[]): Promise<Float32Array[]> {
    const feats = clips.map((c) => this.features(c));
    const out = new Array<Float32Array>(clips.length);
    // Clips of equal length share a run (no padding: padding would change the statistics pooling).
    const byFrames = new Map<number, number[]>();
    feats.forEach((f, i) => byFrames.set(f.length / 80, [...(byFrames.get(f.length / 80) ?? []), i]));
    for (const [frames, all] of byFrames) {
      for (let s = 0; s < all.length; s += this.maxBatch) {
        const idx = all.slice(s, s + this.maxBatch);
        const data = new Float32Array(idx.length * frames * 80);
        idx.forEach((i, b) => data.set(feats[i], b * frames * 80));
        const input = new ort.Tensor('float32', data, [idx.length, frames, 80]);
        const res = await this.session.run({ [this.session.inputNames[0]]: input });
        const y = res[this.session.outputNames[0]];
        const dim = y.dims[y.dims.length - 1];
        if (y.dims.length !== 2 || y.dims[0] !== idx.length || (this.dim > 0 && dim !== this.dim)) {
          throw new SpeakerEmbeddingError(
            `${this.name} returned [${y.dims.join(', ')}], expected [${idx.length}, ${this.dim || 'dim'}]`,
          );
        }
        this.dim = dim;
        const values = y.data as Float32Array;
        idx.forEach((i, b) => (out[i] = l2normalize(values.slice(b * dim, (b + 1) * dim))));
      }
    }
    return out;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** A speaker model given as a file, or a directory holding one (model.onnx, else its only .onnx file). */
function speakerModelFile(path: string): string {
  if (!existsSync(path)) {
    throw new ModelLoadError(`--speaker-model ${path}: no such file or directory`, path);
  }
  if (!statSync(path).isDirectory()) return path;
  const onnx = readdirSync(path).filter((f) => f.endsWith('.onnx'));
  const file = onnx.includes('model.onnx') ? 'model.onnx' : onnx.length === 1 ? onnx[0] : undefined;
  if (!file) {
    throw new ModelLoadError(
      `--speaker-model ${path}: expected model.onnx or exactly one .onnx file, found ${onnx.length ? onnx.join(', ') : 'none'}`,
      path,
    );
  }
  return join(path, file);
}

export async function loadOnnxEmbedder(path: string, opts: OnnxEmbedderOptions = {}): Promise<OnnxEmbedder> {
  const file = speakerModelFile(path);
  const bytes = readFileSync(file);
  const metadata = readModelMetadata(bytes);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: opts.threads ?? 1,
      interOpNumThreads: 1,
    });
  } catch (err) {
    throw new ModelLoadError(
      `--speaker-model ${file} is not a loadable ONNX model: ${(err as Error).message}`,
      file,
    );
  }
  const e = new OnnxEmbedder(session, metadata, basename(path), opts);
  // Without output_dim in the metadata, one run on a second of silence tells the size.
  if (e.dim === 0) await e.embed([new Float32Array(EMBEDDING_SAMPLE_RATE)]);
  return e;
}
