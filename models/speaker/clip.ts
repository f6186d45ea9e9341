/**
 * An audio file as a speaker clip: decoded (WAV, or other containers through ffmpeg), mixed to mono and brought to
 * the embedding rate by sherpa-onnx's resampler (audio/linear-resample.ts), so that a file embeds here as it does in
 * sherpa-onnx at any input rate.
 */
import { loadAudioFile } from '../../audio/load.js';
import { linearResample } from '../../audio/linear-resample.js';
import { EMBEDDING_SAMPLE_RATE } from './embedding.js';

export async function loadSpeakerClip(path: string): Promise<Float32Array> {
  const audio = await loadAudioFile(path);
  return linearResample(audio.samples, audio.sampleRate, EMBEDDING_SAMPLE_RATE);
}
