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
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Replaces the page's body (styled `style`) with one `tag` element fed `body`, or a failing
 *  fetch when `body` is null, through its fetch seam, followed by `after` (HTML); resolves
 *  once the element fired `load` or `error` (collected in `window.events`). */
export async function mountElement(page, tag, body, { attrs = {}, style = '', after = '' } = {}) {
  await page.evaluate(
    ({ tag, body, attrs, style, after }) => {
      document.body.innerHTML = '';
      document.body.style.cssText = style;
      const el = document.createElement(tag);
      el.fetch = async () =>
        body
          ? new Response(JSON.stringify(body), { headers: { 'Content-Type': 'application/json' } })
          : new Response('{"error":{"code":"upstream_unavailable","message":"x"}}', { status: 502 });
      for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
      el.setAttribute('src', '/v1/current');
      window.events = [];
      el.addEventListener('load', () => window.events.push('load'));
      el.addEventListener('error', () => window.events.push('error'));
      document.body.append(el);
      if (after) document.body.insertAdjacentHTML('beforeend', after);
    },
    { tag, body, attrs, style, after },
  );
  try {
    await page.waitForFunction(() => window.events.length > 0, null, { timeout: 20000 });
  } catch (e) {
    throw new Error(`<${tag}> fired neither load nor error: ${JSON.stringify(await pageState(page, tag))}`, {
      cause: e,
    });
  }
}

/** Whether `tag` is defined on the page, where the page is, and what it loaded with what status:
 * an element never defined (its script failed to load) reads differently from a silent one. */
export function pageState(page, tag) {
  return page.evaluate(
    (tag) => ({
      defined: Boolean(customElements.get(tag)),
      url: location.href,
      visibility: document.visibilityState,
      loaded: performance
        .getEntriesByType('resource')
        .map((r) => `${r.name.replace(location.origin, '')} ${r.responseStatus}`),
    }),
    tag,
  );
}
