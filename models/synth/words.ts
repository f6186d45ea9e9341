// Words that get a single merged BPE token in the synthetic vocabulary, so that scripted transcripts and the test
// corpus (Harvard sentences) tokenize to few tokens. Each is stored with a leading space ("Ġword"), as Whisper
// transcripts put one before every word.

const COMMON = `
a about above across after again against all almost alone along already also although always am among an and
another any anyone anything are around as ask asked at away back be because been before began being below best
better between big both boy but by call called came can cannot car change children city close come could country
cut day did different do does done down during each early earth end enough even ever every eye eyes face fact
family far father feet few find first five follow food for form found four from full gave get girl give go going
good got great group had hand hard has have he head hear heard help her here high him his home house how however
i if important in into is it its just keep kind know known land large last later leave left let life light like
line list little live long look made make man many may me mean men might mind more morning most mother move much
must my name near need never new next night no not nothing now number of off often old on once one only open or
order other our out over own page paper part people picture place plant play point put question quick quickly
read really right river room run said same saw say school sea second see seem sentence set she should show side
since small so some something sometimes song soon sound speaker start state still stop story study such sun sure
take talk tell than thank thanks that the their them then there these they thing things think this those thought
three through time to today together too took tree try turn two under until up upon us use used very walk want
was watch water way we well went were what when where which while white who whole why will with without word
words work world would write year years yes yet you young your hello okay yeah good morning afternoon evening
please sorry welcome goodbye bye everyone everybody meeting call team project today tomorrow yesterday minute
minutes hour hours second seconds test testing check microphone audio speech voice transcript transcription
zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen
eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million first second
third fourth fifth last next
`;

// Every word of the Harvard sentences in the shared speech corpus.
const CORPUS = `
birch canoe slid smooth planks glue sheet dark blue background easy tell depth well these days chicken leg rare
dish rice served round bowls juice lemons makes fine punch box thrown beside parked truck hogs fed chopped corn
garbage hours steady faced large size stockings sell boy sun rose rod catch pink salmon source huge clear spring
kick ball straight through woman back feet pot tea helps pass evening smoky fires lack flame heat soft cushion
broke fall salt breeze across sea girl booth sold fifty bonds small pup gnawed hole sock fish twisted turned bent
hook press pants sew button vest swan dive short perfect beauty view stunned purse useless trash colt reared threw
tall rider snowed rained hailed verse loud pleasure
`;

// Capitalised forms for sentence starts and names.
const CAPITALISED = `
The A An It I Its These This That There They We You He She What When Where Why How And But So Yes No Okay Hello
Good Thank Thanks Speaker Glue Rice Four Kick Help Smoky Two Her Press Read One Three Five Six Seven Eight Nine Ten
Well Now Then Today Please Sorry Welcome Hi Hey Let My Our Is Are Do Can Will
`;

function split(s: string): string[] {
  return s.split(/\s+/).filter((w) => w.length > 0);
}

/** Words with their leading space, deduplicated, in a fixed order (ids depend on it). */
export const SYNTH_WORDS: readonly string[] = [
  ...new Set([...split(COMMON), ...split(CORPUS), ...split(CAPITALISED)]),
];

/**
 * Tokens the GPT-2 pre-tokenizer splits off on their own ("It's" -> "It", "'s"), and the space-prefixed
 * symbols that are single tokens in the real vocabulary (openai's non-speech list takes the first token of
 * " -", " '" and " ♪"; without these the bare space token 220 would land in suppress_tokens).
 */
export const SYNTH_FRAGMENTS: readonly string[] = [
  "'s",
  "'t",
  "'re",
  "'ve",
  "'m",
  "'ll",
  "'d",
  ' -',
  " '",
  ' "',
  ' (',
  ' [',
  ' ♪',
];
