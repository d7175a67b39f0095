// Debian's chromium driven by playwright-core (never a browser downloaded by Playwright: `npx playwright install`
// is not used anywhere). Shared by the browser tests and the console specs.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { importPackage } from './deps.js';

export const CHROMIUM = process.env.MOTH_CHROMIUM || '/usr/bin/chromium';

// Base64 SHA-256 of a PEM certificate's SubjectPublicKeyInfo: the form --ignore-certificate-errors-spki-list takes.
export function spkiHash(pemFile) {
  const cert = new crypto.X509Certificate(fs.readFileSync(pemFile));
  const der = cert.publicKey.export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(der).digest('base64');
}

// Launches headless chromium. `trustSpki`: SPKI hashes (spkiHash) of certificates whose chains chromium accepts,
// so a wss:// or https:// server signed by mothd's development CA works without turning certificate checks off for
// every other certificate (as ignoreHTTPSErrors would).
export async function launchChromium({ trustSpki = [] } = {}) {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium with scripts/install-deps.sh`);
  }
  const { chromium } = await importPackage('playwright-core');
  const args = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'];
  if (trustSpki.length > 0) args.push(`--ignore-certificate-errors-spki-list=${trustSpki.join(',')}`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args, timeout: 60_000 });
}

// Where screenshots and other artifacts go: $ARTIFACT_DIR, else $MOTH_E2E_ARTIFACT_DIR (CTest sets it to a folder
// in the build tree), else test/e2e/artifacts (gitignored).
export function artifactDir() {
  const dir = process.env.ARTIFACT_DIR || process.env.MOTH_E2E_ARTIFACT_DIR ||
    path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'artifacts');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
