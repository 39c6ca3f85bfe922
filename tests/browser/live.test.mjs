// `<now-playing live>` in headless Chromium, against the function running locally with the
// Spotify and AppSync Events stand-ins (NP_URL, NP_SPOTIFY; started by tests/test_browser.py).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, SHOTS, launch } from './support.mjs';

const SPOTIFY = process.env.NP_SPOTIFY;
let browser;
let page;

before(async () => {
  assert.ok(SPOTIFY, 'NP_SPOTIFY must name the Spotify stand-in');
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 480, height: 140 } });
  await page.goto(`${BASE}/`);
});

after(async () => browser && browser.close());

const scene = (name) =>
  fetch(`${SPOTIFY}/_fake/scene`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ scene: name }),
  });

/** A `<now-playing live>` on the page with the real fetch, counting what it asks for;
 *  `offer` rewrites the /v1/live answer (to refuse the socket). */
async function mountLive(offer = null) {
  await page.evaluate((offer) => {
    document.body.innerHTML = '';
    window.asked = [];
    window.events = [];
    const el = document.createElement('now-playing');
    el.fetch = async (url, init) => {
      const path = new URL(url, location.href).pathname;
      window.asked.push(path);
      const res = await fetch(url, init);
      if (offer && path.endsWith('/v1/live')) {
        const body = { ...(await res.json()), ...offer };
        return new Response(JSON.stringify(body), { headers: { 'Content-Type': 'application/json' } });
      }
      return res;
    };
    for (const kind of ['load', 'error', 'live'])
      el.addEventListener(kind, (e) => window.events.push([kind, e.detail]));
    el.setAttribute('src', '/v1/current');
    el.setAttribute('live', '');
    document.body.append(el);
  }, offer);
}

const label = () =>
  page.evaluate(() => document.querySelector('now-playing').shadowRoot.querySelector('.label').textContent);

test('a pushed answer changes the widget at once, without its own poll', async () => {
  await scene('track');
  await new Promise((r) => setTimeout(r, 1100));
  await mountLive();
  await page.waitForFunction(() => window.events.some(([kind]) => kind === 'live'), null, { timeout: 10000 });
  assert.equal(await label(), 'Now playing');
  const before = await page.evaluate(() => window.asked.length);
  // Another visitor's request sees the pause; the service pushes it.
  await scene('paused');
  await new Promise((r) => setTimeout(r, 1100));
  const asked = Date.now();
  await (await fetch(`${BASE}/v1/current`)).json();
  await page.waitForFunction(
    () => document.querySelector('now-playing').shadowRoot.querySelector('.label').textContent === 'Paused',
    null,
    { timeout: 3000 },
  );
  const delay = Date.now() - asked;
  const during = await page.evaluate((n) => window.asked.slice(n), before);
  assert.deepEqual(during, [], `the widget asked nothing itself: ${during}`);
  assert.ok(delay < 1000, `shown ${delay} ms after the request that saw it`);
  await page.locator('now-playing').screenshot({ path: `${SHOTS}/widget-live-paused.png` });
  await scene('track');
});

test('a refused socket leaves the widget polling, with the answer shown', async () => {
  await mountLive({ api_key: 'da2-not-this-deployments' });
  await page.waitForFunction(() => window.events.some(([kind]) => kind === 'load'), null, { timeout: 10000 });
  await new Promise((r) => setTimeout(r, 1500));
  const events = await page.evaluate(() => window.events);
  assert.ok(!events.some(([kind]) => kind === 'live'), `never subscribed: ${JSON.stringify(events)}`);
  assert.ok((await label()).length > 0, 'the answer from /v1/live or the poll is shown');
  const asked = await page.evaluate(() => window.asked);
  assert.ok(asked.includes('/v1/current') && asked.includes('/v1/live'), JSON.stringify(asked));
});

test('the live module loads only with the attribute', async () => {
  await page.goto(`${BASE}/`);
  await page.waitForTimeout(300);
  const scripts = await page.evaluate(() =>
    performance.getEntriesByType('resource').map((r) => new URL(r.name).pathname),
  );
  assert.ok(!scripts.some((p) => p.endsWith('widget-live.js')), scripts.join(' '));
});
