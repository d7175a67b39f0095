// The npm packages of test/e2e, loaded so that a checkout without node_modules FAILS with a message saying what to
// do, instead of being skipped or dying on an obscure ERR_MODULE_NOT_FOUND.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const NODE_MODULES = path.join(E2E_DIR, 'node_modules');

// Throws unless `name` is installed in test/e2e/node_modules.
export function requirePackage(name) {
  if (!fs.existsSync(path.join(NODE_MODULES, name, 'package.json'))) {
    throw new Error(`${path.join(NODE_MODULES, name)} is missing: the npm packages of test/e2e are not installed. ` +
      'Run scripts/install-deps.sh (it runs `npm ci` in test/e2e) and try again.');
  }
}

export async function importPackage(name) {
  requirePackage(name);
  const mod = await import(name);
  return mod.default ?? mod;
}

// Path of a file inside an installed package (e.g. mqtt's browser bundle dist/mqtt.min.js).
export function packageFile(name, relative) {
  requirePackage(name);
  const file = path.join(NODE_MODULES, name, relative);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing; run scripts/install-deps.sh`);
  return file;
}
