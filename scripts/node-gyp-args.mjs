// How this project runs node-gyp outside npm (the install step, the sanitizer build):
// the project's own node-gyp, with the running Node's headers when that Node
// ships them (npm passes its nodedir config; a direct run would otherwise
// make node-gyp download them, which needs a network).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** [script, ...args] to run with process.execPath, or null when node-gyp is not installed here. */
export function nodeGypArgv(command = 'rebuild') {
  let script;
  try {
    script = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return null;
  }
  const prefix = dirname(dirname(process.execPath));
  const nodedir = !process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node.h')) ? [`--nodedir=${prefix}`] : [];
  return [script, command, ...nodedir];
}
