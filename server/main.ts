// The process entry: `earshot ARGS` (bin/earshot.js runs this through tsx; the image runs its compiled JavaScript).
import { main } from './cli/index.js';

process.exitCode = await main(process.argv.slice(2));
