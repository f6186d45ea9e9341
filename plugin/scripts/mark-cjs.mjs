// dist/cjs holds CommonJS inside a "type": "module" package: a nested package.json says so to Node.
import { writeFileSync } from 'node:fs';

writeFileSync(new URL('../dist/cjs/package.json', import.meta.url), '{ "type": "commonjs" }\n');
