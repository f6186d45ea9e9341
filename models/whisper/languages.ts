// Whisper's languages (openai/whisper tokenizer.py LANGUAGES, in token order): the codes a request may name, and
// the lower-case names OpenAI's API reports in verbose_json.

export const WHISPER_LANGUAGES: ReadonlyMap<string, string> = new Map([
  ['en', 'english'],
  ['zh', 'chinese'],
  ['de', 'german'],
  ['es', 'spanish'],
  ['ru', 'russian'],
  ['ko', 'korean'],
  ['fr', 'french'],
  ['ja', 'japanese'],
  ['pt', 'portuguese'],
  ['tr', 'turkish'],
  ['pl', 'polish'],
  ['ca', 'catalan'],
  ['nl', 'dutch'],
  ['ar', 'arabic'],
  ['sv', 'swedish'],
  ['it', 'italian'],
  ['id', 'indonesian'],
  ['hi', 'hindi'],
  ['fi', 'finnish'],
  ['vi', 'vietnamese'],
  ['he', 'hebrew'],
  ['uk', 'ukrainian'],
  ['el', 'greek'],
  ['ms', 'malay'],
  ['cs', 'czech'],
  ['ro', 'romanian'],
  ['da', 'danish'],
  ['hu', 'hungarian'],
  ['ta', 'tamil'],
  ['no', 'norwegian'],
  ['th', 'thai'],
  ['ur', 'urdu'],
  ['hr', 'croatian'],
  ['bg', 'bulgarian'],
  ['lt', 'lithuanian'],
  ['la', 'latin'],
  ['mi', 'maori'],
  ['ml', 'malayalam'],
  ['cy', 'welsh'],
  ['sk', 'slovak'],
  ['te', 'telugu'],
  ['fa', 'persian'],
  ['lv', 'latvian'],
  ['bn', 'bengali'],
  ['sr', 'serbian'],
  ['az', 'azerbaijani'],
  ['sl', 'slovenian'],
  ['kn', 'kannada'],
  ['et', 'estonian'],
  ['mk', 'macedonian'],
  ['br', 'breton'],
  ['eu', 'basque'],
  ['is', 'icelandic'],
  ['hy', 'armenian'],
  ['ne', 'nepali'],
  ['mn', 'mongolian'],
  ['bs', 'bosnian'],
  ['kk', 'kazakh'],
  ['sq', 'albanian'],
  ['sw', 'swahili'],
  ['gl', 'galician'],
  ['mr', 'marathi'],
  ['pa', 'punjabi'],
  ['si', 'sinhala'],
  ['km', 'khmer'],
  ['sn', 'shona'],
  ['yo', 'yoruba'],
  ['so', 'somali'],
  ['af', 'afrikaans'],
  ['oc', 'occitan'],
  ['ka', 'georgian'],
  ['be', 'belarusian'],
  ['tg', 'tajik'],
  ['sd', 'sindhi'],
  ['gu', 'gujarati'],
  ['am', 'amharic'],
  ['yi', 'yiddish'],
  ['lo', 'lao'],
  ['uz', 'uzbek'],
  ['fo', 'faroese'],
  ['ht', 'haitian creole'],
  ['ps', 'pashto'],
  ['tk', 'turkmen'],
  ['nn', 'nynorsk'],
  ['mt', 'maltese'],
  ['sa', 'sanskrit'],
  ['lb', 'luxembourgish'],
  ['my', 'myanmar'],
  ['bo', 'tibetan'],
  ['tl', 'tagalog'],
  ['mg', 'malagasy'],
  ['as', 'assamese'],
  ['tt', 'tatar'],
  ['haw', 'hawaiian'],
  ['ln', 'lingala'],
  ['ha', 'hausa'],
  ['ba', 'bashkir'],
  ['jw', 'javanese'],
  ['su', 'sundanese'],
  ['yue', 'cantonese'],
]);

/** Values that ask for the language to be detected rather than naming one. */
export const DETECT_LANGUAGE_ALIASES: readonly string[] = ['multi', 'auto'];

/** OpenAI's name for a code ("en" -> "english"); an unknown code is returned as it is. */
export function languageName(code: string): string {
  return WHISPER_LANGUAGES.get(code) ?? code;
}

/** A language the model cannot transcribe. `valid` lists the codes it can (plus the detect aliases if any). */
export class UnsupportedLanguageError extends Error {
  override name = 'UnsupportedLanguageError';
  constructor(
    readonly language: string,
    readonly valid: readonly string[],
  ) {
    super(`language "${language}" is not supported: use one of ${valid.join(', ')}`);
  }
}

/**
 * The codes a request may name for a model: the languages its vocabulary has tokens for (English-only models:
 * en), plus the detect aliases (which on an English-only model detect English).
 */
export function validLanguages(model: {
  isMultilingual: boolean;
  languages: ReadonlyMap<string, number>;
}): string[] {
  return [...(model.isMultilingual ? model.languages.keys() : ['en']), ...DETECT_LANGUAGE_ALIASES];
}

/**
 * Normalises a requested language (case, region suffix such as pt-BR) and checks it against `valid` (default:
 * every Whisper language and the detect aliases). Returns undefined for detection, else the code.
 */
export function checkLanguage(
  requested: string | undefined,
  valid: readonly string[] = [...WHISPER_LANGUAGES.keys(), ...DETECT_LANGUAGE_ALIASES],
): string | undefined {
  if (requested === undefined || requested === '') return undefined;
  const code = requested.split(/[-_]/)[0].toLowerCase();
  if (!valid.includes(code)) throw new UnsupportedLanguageError(requested, valid);
  return DETECT_LANGUAGE_ALIASES.includes(code) ? undefined : code;
}
