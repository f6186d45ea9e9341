// Architecture rules, checked by `npm run check:architecture` (part of `npm test`). Data flows
// transport -> stream -> vad -> scheduling -> whisper -> protocol -> store -> transport; imports run one way:
// bench/test -> server -> models -> audio. A violation fails the build with the rule's name.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'audio-is-pure-dsp',
      comment: 'audio/ is signal processing only: it knows nothing of inference or serving.',
      severity: 'error',
      from: { path: '^audio/' },
      to: { path: '^(models|server|plugin|bench)/' },
    },
    {
      name: 'models-know-no-server',
      comment: 'models/ is the inference library: serving policy, transport and protocol live in server/.',
      severity: 'error',
      from: { path: '^models/' },
      to: { path: '^(server|plugin|bench)/' },
    },
    {
      name: 'product-code-imports-no-tests-or-benches',
      severity: 'error',
      from: { path: '^(audio|models|server)/' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'plugin-only-through-its-package-entry',
      comment:
        'plugin/ is a separate package: the server never reaches into it, nobody imports its internals.',
      severity: 'error',
      from: { pathNot: '^plugin/' },
      to: { path: '^plugin/' },
    },
    {
      name: 'plugin-is-independent-of-the-server-source',
      comment: 'The plugin speaks the protocol; it must not import the server, models or audio source.',
      severity: 'error',
      from: { path: '^plugin/(src|examples)/' },
      to: { path: '^(audio|models|server|bench)/' },
    },
    {
      name: 'product-code-is-used-by-the-product',
      comment:
        'A module of audio/, models/ or server/ that the server and CLI never reach is kept alive only by tests or ' +
        "benches: delete it, or move it beside what uses it. A worker thread's entry (*-worker.ts) is started by " +
        'URL, so it counts as an entry of its own.',
      severity: 'error',
      from: { path: '^(server/main\\.ts|bin/|models/.*-worker\\.ts$)' },
      to: { path: '^(audio|models|server)/', pathNot: '-worker\\.ts$', reachable: false },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist|\\.cache|bench/out)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.cjs', '.mjs', '.json'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
