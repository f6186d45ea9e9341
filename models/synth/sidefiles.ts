// The JSON files next to the ONNX graphs, as in onnx-community/whisper-* (the set transformers.js v4 reads):
// config.json, generation_config.json, preprocessor_config.json, tokenizer.json, tokenizer_config.json.
import type { ArchSpec } from './layers.js';
import type { BpeTokenizer, SynthVocab } from './vocab.js';

type Json = Record<string, unknown>;

/** openai _ALIGNMENT_HEADS for the real multilingual architectures (transformers.js scripts/extra/whisper.py). */
const REAL_ALIGNMENT_HEADS: Record<string, number[][]> = {
  '4x6': [
    [2, 2],
    [3, 0],
    [3, 2],
    [3, 3],
    [3, 4],
    [3, 5],
  ],
  '6x8': [
    [3, 1],
    [4, 2],
    [4, 3],
    [4, 7],
    [5, 1],
    [5, 2],
    [5, 4],
    [5, 6],
  ],
  '12x12': [
    [5, 3],
    [5, 9],
    [8, 0],
    [8, 4],
    [8, 7],
    [8, 8],
    [9, 0],
    [9, 7],
    [9, 9],
    [10, 5],
  ],
};

/** The real table when the dims are a real model's, else openai's default: every head of the upper half. */
export function alignmentHeads(spec: ArchSpec): number[][] {
  const real = REAL_ALIGNMENT_HEADS[`${spec.decoderLayers}x${spec.heads}`];
  if (real) return real;
  const heads: number[][] = [];
  for (let l = Math.floor(spec.decoderLayers / 2); l < spec.decoderLayers; l++) {
    for (let h = 0; h < spec.heads; h++) heads.push([l, h]);
  }
  return heads;
}

/** SuppressTokens list: openai's non-speech symbols plus the task/control specials (as in the real files). */
export function suppressTokens(tok: BpeTokenizer, keep: ReadonlySet<number> = new Set()): number[] {
  const v = tok.vocab;
  const ids = [
    ...tok.nonSpeechTokens(),
    v.sot,
    v.translate,
    v.transcribe,
    v.startoflm,
    v.startofprev,
    v.nospeech,
  ];
  return [...new Set(ids)].filter((t) => !keep.has(t)).sort((a, b) => a - b);
}

export interface SideFileInput {
  spec: ArchSpec;
  tok: BpeTokenizer;
  suppress: number[];
  /** Extra provenance stored under config.json "earshot_synth". */
  provenance: Json;
}

export function configJson({ spec, tok, suppress, provenance }: SideFileInput): Json {
  const v = tok.vocab;
  return {
    _name_or_path: `earshot/whisper-synth`,
    activation_dropout: 0.0,
    activation_function: 'gelu',
    apply_spec_augment: false,
    architectures: ['WhisperForConditionalGeneration'],
    attention_dropout: 0.0,
    begin_suppress_tokens: [220, v.eot],
    bos_token_id: v.eot,
    classifier_proj_size: 256,
    d_model: spec.dModel,
    decoder_attention_heads: spec.heads,
    decoder_ffn_dim: spec.ffn,
    decoder_layerdrop: 0.0,
    decoder_layers: spec.decoderLayers,
    decoder_start_token_id: v.sot,
    dropout: 0.0,
    encoder_attention_heads: spec.heads,
    encoder_ffn_dim: spec.ffn,
    encoder_layerdrop: 0.0,
    encoder_layers: spec.encoderLayers,
    eos_token_id: v.eot,
    init_std: 0.02,
    is_encoder_decoder: true,
    mask_feature_length: 10,
    mask_feature_min_masks: 0,
    mask_feature_prob: 0.0,
    mask_time_length: 10,
    mask_time_min_masks: 2,
    mask_time_prob: 0.05,
    max_length: spec.maxTargetPositions,
    max_source_positions: spec.maxSourcePositions,
    max_target_positions: spec.maxTargetPositions,
    median_filter_width: 7,
    model_type: 'whisper',
    num_hidden_layers: spec.encoderLayers,
    num_mel_bins: spec.mels,
    pad_token_id: v.eot,
    scale_embedding: false,
    suppress_tokens: suppress,
    torch_dtype: 'float32',
    transformers_version: '4.44.2',
    use_cache: true,
    use_weighted_layer_sum: false,
    vocab_size: spec.vocabSize,
    earshot_synth: provenance,
  };
}

export function generationConfigJson({ spec, tok, suppress }: SideFileInput): Json {
  const v = tok.vocab;
  const out: Json = {
    alignment_heads: alignmentHeads(spec),
    begin_suppress_tokens: [220, v.eot],
    bos_token_id: v.eot,
    decoder_start_token_id: v.sot,
    eos_token_id: v.eot,
    forced_decoder_ids: v.multilingual
      ? [
          [1, null],
          [2, v.transcribe],
        ]
      : [[1, v.notimestamps]],
    is_multilingual: v.multilingual,
  };
  if (v.multilingual) {
    out.lang_to_id = Object.fromEntries(v.languages.map((l, i) => [`<|${l}|>`, v.sot + 1 + i]));
    out.task_to_id = { translate: v.translate, transcribe: v.transcribe };
  }
  Object.assign(out, {
    max_initial_timestamp_index: 50,
    max_length: spec.maxTargetPositions,
    no_timestamps_token_id: v.notimestamps,
    pad_token_id: v.eot,
    prev_sot_token_id: v.startofprev,
    return_timestamps: false,
    suppress_tokens: suppress,
    transformers_version: '4.44.2',
  });
  return out;
}

export function preprocessorConfigJson(spec: ArchSpec): Json {
  return {
    chunk_length: 30,
    feature_extractor_type: 'WhisperFeatureExtractor',
    feature_size: spec.mels,
    hop_length: 160,
    n_fft: 400,
    n_samples: 480000,
    nb_max_frames: 3000,
    padding_side: 'right',
    padding_value: 0.0,
    processor_class: 'WhisperProcessor',
    return_attention_mask: false,
    sampling_rate: 16000,
  };
}

function addedTokens(v: SynthVocab): Json[] {
  const out: Json[] = [];
  for (let id = v.eot; id < v.size; id++) {
    const timestamp = id >= v.timestampBegin;
    out.push({
      id,
      content: v.tokens[id],
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: timestamp,
      special: !timestamp,
    });
  }
  return out;
}

export function tokenizerJson(v: SynthVocab): Json {
  const vocab: Record<string, number> = {};
  for (let id = 0; id <= v.eot; id++) vocab[v.tokens[id]] = id;
  const special = (name: string): Json => ({ SpecialToken: { id: name, type_id: 0 } });
  const specialEntry = (id: number): Json => ({ id: v.tokens[id], ids: [id], tokens: [v.tokens[id]] });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens(v),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        special('<|startoftranscript|>'),
        special('<|notimestamps|>'),
        { Sequence: { id: 'A', type_id: 0 } },
        special('<|endoftext|>'),
      ],
      pair: [
        special('<|startoftranscript|>'),
        special('<|notimestamps|>'),
        { Sequence: { id: 'A', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '<|endoftext|>', type_id: 1 } },
      ],
      special_tokens: {
        '<|endoftext|>': specialEntry(v.eot),
        '<|notimestamps|>': specialEntry(v.notimestamps),
        '<|startoftranscript|>': specialEntry(v.sot),
      },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: v.merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

export function tokenizerConfigJson(v: SynthVocab): Json {
  const decoder: Record<string, Json> = {};
  for (const t of addedTokens(v)) {
    const { id, ...rest } = t;
    decoder[String(id)] = rest;
  }
  return {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: decoder,
    additional_special_tokens: v.tokens.slice(v.eot + 1, v.timestampBegin),
    bos_token: '<|endoftext|>',
    clean_up_tokenization_spaces: true,
    eos_token: '<|endoftext|>',
    errors: 'replace',
    model_max_length: 1024,
    pad_token: '<|endoftext|>',
    processor_class: 'WhisperProcessor',
    return_attention_mask: false,
    tokenizer_class: 'WhisperTokenizer',
    unk_token: '<|endoftext|>',
  };
}
