// What the browser tests share: the running function's URL, where screenshots go, and
// Debian's Chromium started the same way for every file.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

export const BASE = process.env.NP_URL;
export const SHOTS = process.env.NP_SCREENSHOTS || new URL('../artifacts/', import.meta.url).pathname;
mkdirSync(SHOTS, { recursive: true });

/** Headless Chromium, quiet: no network of its own, no first-run work. */
export function launch() {
  assert.ok(BASE, 'NP_URL must name the running function');
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}
