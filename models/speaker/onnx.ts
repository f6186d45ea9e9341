/**
 * ONNX speaker-embedding models in the layouts the field publishes and sherpa-onnx runs: WeSpeaker ResNet and
 * 3D-Speaker CAM++/ERes2Net (one float input of fbank [batch, frames, 80], named `feats`, `x`, ...: the first input
 * is used; one output [batch, dim]) and NeMo TitaNet/SpeakerNet (fbank [batch, bins, frames] plus frame counts;
 * outputs logits, then the embedding). Which features, scaling and normalisation: front-end.ts, from the model's
 * metadata_props as sherpa-onnx reads them.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import ort from 'onnxruntime-node';
import { ModelLoadError } from '../errors.js';
import { KaldiFbank, normalizeFeatures } from '../../audio/fbank.js';
import { type SpeakerFrontEnd, speakerFrontEnd } from './front-end.js';
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
  readonly frontEnd: SpeakerFrontEnd;
  private readonly fbank: KaldiFbank;
  private readonly maxBatch: number;
  private readonly outputName: string;

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
    this.frontEnd = speakerFrontEnd(metadata, name);
    this.fbank = new KaldiFbank({ ...this.frontEnd.fbank, sampleRate: EMBEDDING_SAMPLE_RATE });
    const nemo = this.frontEnd.layout === 'nemo';
    if (nemo && (session.inputNames.length < 2 || session.outputNames.length < 2)) {
      throw new SpeakerEmbeddingError(
        `${name}: a NeMo speaker model has two inputs (features, lengths) and two outputs (logits, embeddings); this one has ${session.inputNames.length} and ${session.outputNames.length}`,
      );
    }
    // sherpa-onnx takes the first output, or NeMo's second (its first is the classifier's logits).
    this.outputName = session.outputNames[nemo ? 1 : 0];
    this.dim = Number(metadata.output_dim ?? 0);
  }

  private features(clip: Float32Array): Float32Array {
    const f = this.fbank.compute(clip, this.frontEnd.sampleScale);
    if (f.frames < 10) {
      throw new SpeakerEmbeddingError(
        `a ${(clip.length / EMBEDDING_SAMPLE_RATE).toFixed(3)} s clip is too short for a speaker embedding`,
      );
    }
    return normalizeFeatures(f, this.frontEnd.normalization).data;
  }

  /** One run's inputs: [B, T, D] features, or NeMo's [B, D, T] and the frame counts. */
  private inputs(feats: Float32Array[], frames: number): Record<string, ort.Tensor> {
    const bins = this.fbank.numBins;
    const data = new Float32Array(feats.length * frames * bins);
    const [first, second] = this.session.inputNames;
    if (this.frontEnd.layout === 'general') {
      feats.forEach((f, b) => data.set(f, b * frames * bins));
      return { [first]: new ort.Tensor('float32', data, [feats.length, frames, bins]) };
    }
    feats.forEach((f, b) => {
      const base = b * frames * bins;
      for (let t = 0; t < frames; t++)
        for (let d = 0; d < bins; d++) data[base + d * frames + t] = f[t * bins + d];
    });
    const lengths = new BigInt64Array(feats.length).fill(BigInt(frames));
    return {
      [first]: new ort.Tensor('float32', data, [feats.length, bins, frames]),
      [second]: new ort.Tensor('int64', lengths, [feats.length]),
    };
  }

  async embed(clips: readonly Float32Array[]): Promise<Float32Array[]> {
    const feats = clips.map((c) => this.features(c));
    const bins = this.fbank.numBins;
    const out = new Array<Float32Array>(clips.length);
    // Clips of equal length share a run (no padding: padding would change the statistics pooling).
    const byFrames = new Map<number, number[]>();
    feats.forEach((f, i) => byFrames.set(f.length / bins, [...(byFrames.get(f.length / bins) ?? []), i]));
    for (const [frames, all] of byFrames) {
      for (let s = 0; s < all.length; s += this.maxBatch) {
        const idx = all.slice(s, s + this.maxBatch);
        const res = await this.session.run(
          this.inputs(
            idx.map((i) => feats[i]),
            frames,
          ),
        );
        const y = res[this.outputName];
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
  try {
    const e = new OnnxEmbedder(session, metadata, basename(path), opts);
    // Without output_dim in the metadata, one run on a second of silence tells the size.
    if (e.dim === 0) await e.embed([new Float32Array(EMBEDDING_SAMPLE_RATE)]);
    return e;
  } catch (err) {
    await session.release();
    if (!(err instanceof SpeakerEmbeddingError)) throw err;
    throw new ModelLoadError(`--speaker-model ${file}: ${err.message}`, file);
  }
}
