// Trained speaker-embedding models by name: the short names users type (`--speaker-model campplus`), the hub
// file behind each, and pulling one through the generic hub client into the Hugging Face cache. Repos and file
// names as their publishers name them: WeSpeaker's own export on the hub (docs/pretrained.md of
// wenet-e2e/wespeaker), and the sherpa-onnx exports with metadata (csukuangfj/speaker-embedding-models, pushed by
// k2-fsa/sherpa-onnx's export-{wespeaker,3dspeaker,nemo-speaker-verification}-to-onnx workflows).
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { cachedSnapshots, exists, type CachedSnapshot } from '../hub/cache.js';
import { HubError, pullFile, type HubOptions } from '../hub/client.js';

export interface KnownSpeakerModel {
  name: string;
  repo: string;
  file: string;
  /** One line for `earshot models list` and errors: family, training data, language. */
  what: string;
}

const SHERPA_REPO = 'csukuangfj/speaker-embedding-models';

export const SPEAKER_MODELS: readonly KnownSpeakerModel[] = [
  {
    name: 'wespeaker-resnet34',
    repo: 'Wespeaker/wespeaker-voxceleb-resnet34-LM',
    file: 'voxceleb_resnet34_LM.onnx',
    what: 'WeSpeaker ResNet34-LM, VoxCeleb2, English, 256-d (WeSpeaker recipe)',
  },
  {
    name: 'campplus',
    repo: SHERPA_REPO,
    file: '3dspeaker_speech_campplus_sv_en_voxceleb_16k.onnx',
    what: '3D-Speaker CAM++, VoxCeleb2, English, 192-d',
  },
  {
    name: 'campplus-zh-en',
    repo: SHERPA_REPO,
    file: '3dspeaker_speech_campplus_sv_zh_en_16k-common_advanced.onnx',
    what: '3D-Speaker CAM++, Chinese and English',
  },
  {
    name: 'eres2net',
    repo: SHERPA_REPO,
    file: '3dspeaker_speech_eres2net_sv_en_voxceleb_16k.onnx',
    what: '3D-Speaker ERes2Net, VoxCeleb2, English',
  },
  {
    name: 'titanet-small',
    repo: SHERPA_REPO,
    file: 'nemo_en_titanet_small.onnx',
    what: 'NVIDIA NeMo TitaNet-S, English, 192-d',
  },
  {
    name: 'titanet-large',
    repo: SHERPA_REPO,
    file: 'nemo_en_titanet_large.onnx',
    what: 'NVIDIA NeMo TitaNet-L, English, 192-d',
  },
];

const HUB_SPEC = /^([\w.-]+\/[\w.-]+):(.+\.onnx)$/;

/** A short name or `owner/repo:file.onnx` as a hub file; undefined for anything else (a path, say). */
export function speakerModelOnHub(spec: string): { repo: string; file: string } | undefined {
  const known = SPEAKER_MODELS.find((m) => m.name === spec.trim());
  if (known) return { repo: known.repo, file: known.file };
  const hub = HUB_SPEC.exec(spec.trim());
  return hub ? { repo: hub[1], file: hub[2] } : undefined;
}

/** A spec that looks like a name (no path separator, no extension) but is none of the known ones. */
export function unknownSpeakerModel(spec: string): HubError {
  return new HubError(
    `unknown speaker model "${spec}": use one of ${SPEAKER_MODELS.map((m) => m.name).join(', ')}, ` +
      'an ONNX file or directory, or owner/repo:file.onnx on the hub',
  );
}

/** Finds in the cache, or downloads, a speaker model given by name or `owner/repo:file.onnx`; returns its path. */
export function pullSpeakerModel(spec: string, opts: HubOptions = {}): Promise<string> {
  const hub = speakerModelOnHub(spec);
  if (!hub) return Promise.reject(unknownSpeakerModel(spec));
  return pullFile(hub.repo, hub.file, opts);
}

/** The ONNX files at the top of hub snapshots (where speaker exports sit; Whisper's are under onnx/), one row each. */
export async function listCachedSpeakerModels(
  cacheDir?: string,
): Promise<(CachedSnapshot & { name: string; complete: boolean })[]> {
  const onnxFiles = async (dir: string): Promise<string[]> =>
    (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.onnx')).sort();
  const snapshots = await cachedSnapshots(cacheDir, async (dir) => (await onnxFiles(dir)).length > 0);
  const rows = [];
  for (const s of snapshots) {
    for (const file of await onnxFiles(s.dir)) {
      const known = SPEAKER_MODELS.find((m) => m.repo === s.repo && m.file === file);
      const path = join(s.dir, file);
      const bytes = await stat(path).then(
        (st) => st.size,
        () => 0,
      );
      rows.push({
        ...s,
        name: known?.name ?? `${s.repo}:${file}`,
        dir: path,
        bytes,
        complete: await exists(path),
      });
    }
  }
  return rows;
}
