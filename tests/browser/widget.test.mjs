// The widget, the card and the preview page in headless Chromium, against the function
// running locally with the Spotify stand-in (NP_URL; started by tests/test_browser.py).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, SHOTS, launch, mountElement } from './support.mjs';

const track = {
  type: 'track',
  id: '4uLU6hMCjMI75M1A2tKUQC',
  name: 'Never Gonna Give You Up',
  url: 'https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC',
  artists: [{ name: 'Rick Astley', url: 'https://open.spotify.com/artist/0gxyHStUsqpMadRV0Di1Qt' }],
  album: { name: 'Whenever You Need Somebody', url: 'https://open.spotify.com/album/6XhjNHCyCDyyGJRM5mg40G' },
  images: [],
  duration_ms: 213573,
  explicit: false,
  is_local: false,
};
const episode = {
  type: 'episode',
  id: '512ojhOuo1ktJprKbVcKyQ',
  name: 'Rust in production',
  url: 'https://open.spotify.com/episode/512ojhOuo1ktJprKbVcKyQ',
  artists: [{ name: 'The Changelog', url: 'https://open.spotify.com/show/2mTUnDkuKUkhiueKcVWoP0' }],
  album: { name: 'The Changelog', url: 'https://open.spotify.com/show/2mTUnDkuKUkhiueKcVWoP0' },
  images: [],
  duration_ms: 4123000,
  explicit: true,
  is_local: false,
};
const local = {
  ...track,
  id: null,
  url: null,
  name: 'Garage Take 3',
  artists: [{ name: 'Home Recordings', url: null }],
  album: { name: 'Demos', url: null },
  is_local: true,
};
const now = () => new Date().toISOString();
const doc = (over) => ({
  status: 'playing',
  is_playing: true,
  item: track,
  progress_ms: 60000,
  played_at: null,
  fetched_at: now(),
  stale: false,
  ...over,
});

const STATES = {
  playing: () => doc({}),
  paused: () => doc({ status: 'paused', is_playing: false }),
  last_played: () =>
    doc({
      status: 'last_played',
      is_playing: false,
      progress_ms: null,
      played_at: new Date(Date.now() - 12 * 60e3).toISOString(),
    }),
  episode: () => doc({ item: episode, progress_ms: 600000 }),
  local_file: () => doc({ item: local }),
  offline: () => doc({ status: 'offline', is_playing: false, item: null, progress_ms: null }),
  stale: () => doc({ stale: true }),
  error: null,
};

let browser;
let page;
let images;

before(async () => {
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 480, height: 140 } });
  await page.goto(`${BASE}/`);
  // The stand-in's album art, so screenshots show covers.
  images = await page.evaluate(
    async (base) => (await (await fetch(`${base}/v1/current`)).json()).item?.images ?? [],
    BASE,
  );
});

after(async () => browser && browser.close());

/** Replaces the page body with one widget fed `body` (or a failing fetch) through its seam. */
async function mount(state, attrs = {}) {
  const body = STATES[state]
    ? {
        ...STATES[state](),
        ...(STATES[state]().item
          ? { item: { ...STATES[state]().item, images: state === 'local_file' ? [] : images } }
          : {}),
      }
    : null;
  await mountElement(page, 'now-playing', body, { attrs, style: 'margin:8px' });
  return page.locator('now-playing');
}

const shadow = (selector, prop = 'textContent') =>
  page.evaluate(([s, p]) => document.querySelector('now-playing').shadowRoot.querySelector(s)[p], [selector, prop]);

describe('each state renders', () => {
  const expected = {
    playing: ['Now playing', 'Never Gonna Give You Up', 'Rick Astley · Whenever You Need Somebody'],
    paused: ['Paused', 'Never Gonna Give You Up', 'Rick Astley · Whenever You Need Somebody'],
    last_played: ['Last played 12 minutes ago', 'Never Gonna Give You Up', 'Rick Astley · Whenever You Need Somebody'],
    episode: ['Now playing', 'Rust in production', 'The Changelog'],
    local_file: ['Now playing', 'Garage Take 3', 'Home Recordings · Demos'],
    offline: ['Offline', 'Spotify', ''],
    stale: ['Now playing · may be out of date', 'Never Gonna Give You Up', 'Rick Astley · Whenever You Need Somebody'],
    error: ['', 'Spotify', ''],
  };
  for (const [state, [label, title, sub]] of Object.entries(expected)) {
    test(state, async () => {
      const el = await mount(state);
      assert.equal(await shadow('.label'), label);
      assert.equal(await shadow('.title'), title);
      assert.equal(await shadow('.sub'), sub);
      await el.screenshot({ path: `${SHOTS}/widget-${state}.png` });
    });
  }

  test('a track links to Spotify and a local file links nowhere', async () => {
    await mount('playing');
    assert.equal(await shadow('.card', 'href'), 'https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC');
    await mount('local_file');
    assert.equal(await shadow('.card', 'href'), '');
    assert.equal(await shadow('.art', 'src'), '', 'no art, its square kept');
  });

  test('every state keeps one height and the text in one place', async () => {
    const where = {};
    for (const state of Object.keys(STATES)) {
      await mount(state);
      where[state] = JSON.stringify(
        await page.evaluate(() => {
          const host = document.querySelector('now-playing');
          const at = host.getBoundingClientRect();
          const text = host.shadowRoot.querySelector('.text').getBoundingClientRect();
          const brand = host.shadowRoot.querySelector('.brand').getBoundingClientRect();
          return { height: at.height, text: text.x - at.x, brand: brand.x - at.x };
        }),
      );
    }
    assert.equal(new Set(Object.values(where)).size, 1, JSON.stringify(where, null, 1));
  });

  test('only an https: link from the answer becomes a link', async () => {
    for (const url of ['javascript:alert(1)', 'data:text/html,<script>alert(1)</script>', '//evil.example/']) {
      STATES.hostile = () => doc({ item: { ...track, url } });
      try {
        await mount('hostile');
        assert.equal(await shadow('.card', 'href'), '', url);
        assert.equal(await shadow('.card', 'title'), 'From Spotify', url);
      } finally {
        delete STATES.hostile;
      }
    }
  });

  test('art is shown whole with small corners, and every state credits Spotify', async () => {
    for (const state of ['playing', 'local_file', 'offline']) {
      await mount(state);
      const look = await page.evaluate(() => {
        const root = document.querySelector('now-playing').shadowRoot;
        const art = getComputedStyle(root.querySelector('.art'));
        const brand = root.querySelector('.card .brand');
        return {
          fit: art.objectFit,
          radius: parseFloat(art.borderRadius),
          filter: art.filter,
          width: brand?.getBoundingClientRect().width,
          title: root.querySelector('.card').title,
        };
      });
      assert.equal(look.fit, 'contain', state);
      assert.ok(look.radius <= 4, `${state}: ${look.radius}`);
      assert.equal(look.filter, 'none');
      assert.ok(look.width >= 21, `${state}: the icon at 21 px at least, got ${look.width}`);
      if (state === 'playing') assert.equal(look.title, 'Listen on Spotify');
    }
  });

  test('a failure leaves a quiet placeholder and an error event, no console error', async () => {
    const messages = [];
    page.on('console', (m) => m.type() === 'error' && messages.push(m.text()));
    page.on('pageerror', (e) => messages.push(String(e)));
    await mount('error');
    assert.deepEqual(await page.evaluate(() => window.events), ['error']);
    assert.deepEqual(
      messages.filter((m) => !m.includes('502')),
      [],
    );
  });
});

test('the progress bar advances between polls while playing, and not when paused', async () => {
  await mount('playing');
  const width = () =>
    page.evaluate(() =>
      parseFloat(document.querySelector('now-playing').shadowRoot.querySelector('.fill').style.width),
    );
  const first = await width();
  await page.waitForTimeout(2200);
  assert.ok((await width()) > first, 'moved');
  await mount('paused');
  const paused = await width();
  await page.waitForTimeout(1200);
  assert.equal(await width(), paused);
});

test('load and error bubble out of a shadow root, and the element keeps its state private', async () => {
  const seen = await page.evaluate(async () => {
    document.body.innerHTML = '<div id="host"></div>';
    const outer = document.getElementById('host').attachShadow({ mode: 'open' });
    const heard = [];
    document.addEventListener('load', (e) => heard.push(`load from ${e.composedPath()[0].localName}`), true);
    document.body.addEventListener('load', () => heard.push('load at body'));
    document.body.addEventListener('error', (e) => heard.push(`error at body: ${e.detail}`));
    const make = (ok) => {
      const el = document.createElement('now-playing');
      el.fetch = async () =>
        ok
          ? new Response(JSON.stringify({ status: 'offline', item: null, fetched_at: new Date().toISOString() }))
          : new Response('{}', { status: 503 });
      el.setAttribute('src', '/v1/current');
      return el;
    };
    // Whether or not an event arrives, go on after 5 s: the assertions below say which did not.
    const within = (promise) => Promise.race([promise, new Promise((resolve) => setTimeout(resolve, 5000))]);
    const loaded = within(new Promise((resolve) => document.body.addEventListener('load', resolve, { once: true })));
    outer.append(make(true));
    await loaded;
    const failed = within(new Promise((resolve) => document.body.addEventListener('error', resolve, { once: true })));
    outer.append(make(false));
    await failed;
    const el = outer.querySelector('now-playing');
    return { heard, visible: ['data', 'failures', 'timer', 'el'].filter((k) => k in el), poll: typeof el.poll };
  });
  assert.ok(seen.heard.includes('load at body'), JSON.stringify(seen));
  assert.ok(
    seen.heard.some((h) => h.startsWith('error at body: HTTP 503')),
    JSON.stringify(seen),
  );
  assert.deepEqual(seen.visible, [], 'no internal state on the element');
  assert.equal(seen.poll, 'function', 'poll() stays public: a page may ask for a refresh');
});

test('a hostile track name shows as text and injects nothing', async () => {
  const dialogs = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    d.dismiss();
  });
  const hostile = '<img src=x onerror=alert(1)><script>alert(2)</script>';
  STATES.hostile = () => doc({ item: { ...track, name: hostile, artists: [{ name: '"><b>bold</b>', url: null }] } });
  await mount('hostile');
  assert.equal(await shadow('.title'), hostile);
  const injected = await page.evaluate(
    () => document.querySelector('now-playing').shadowRoot.querySelectorAll('script, b, img:not(.art)').length,
  );
  assert.equal(injected, 0);
  assert.deepEqual(dialogs, []);
  await page.locator('now-playing').screenshot({ path: `${SHOTS}/widget-hostile.png` });
});

test('dark mode follows the system and the theme attribute overrides it', async () => {
  const background = () =>
    page.evaluate(
      () => getComputedStyle(document.querySelector('now-playing').shadowRoot.querySelector('.card')).backgroundColor,
    );
  await page.emulateMedia({ colorScheme: 'dark' });
  await mount('playing');
  assert.equal(await background(), 'rgb(24, 24, 24)');
  await page.locator('now-playing').screenshot({ path: `${SHOTS}/widget-playing-dark.png` });
  await mount('playing', { theme: 'light' });
  assert.equal(await background(), 'rgb(255, 255, 255)');
  await page.emulateMedia({ colorScheme: 'light' });
  await mount('playing', { theme: 'dark' });
  assert.equal(await background(), 'rgb(24, 24, 24)');
});

test('reduced motion stops the pulse and the bar animation', async () => {
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await mount('playing');
  assert.equal(
    await page.evaluate(
      () => getComputedStyle(document.querySelector('now-playing').shadowRoot.querySelector('.dot')).animationName,
    ),
    'none',
  );
  await page.emulateMedia({ reducedMotion: 'no-preference' });
  await mount('playing');
  assert.equal(
    await page.evaluate(
      () => getComputedStyle(document.querySelector('now-playing').shadowRoot.querySelector('.dot')).animationName,
    ),
    'pulse',
  );
});

test('the card is reachable by keyboard and named for screen readers', async () => {
  await mount('playing', { compact: '' });
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => document.querySelector('now-playing').shadowRoot.activeElement?.className);
  assert.match(focused, /card/);
  assert.equal(await shadow('.card', 'ariaLabel'), 'Now playing: Never Gonna Give You Up by Rick Astley');
  await page.locator('now-playing').screenshot({ path: `${SHOTS}/widget-compact.png` });
});

test('the preview page shows the live widget from this deployment', async () => {
  await page.goto(`${BASE}/`);
  await page.waitForFunction(
    () => document.querySelector('now-playing')?.shadowRoot?.querySelector('.title')?.textContent !== 'Spotify',
  );
  const title = await page.evaluate(
    () => document.querySelector('now-playing').shadowRoot.querySelector('.title').textContent,
  );
  assert.ok(title.length > 0);
  const snippet = await page.locator('pre').first().textContent();
  assert.ok(snippet.includes(`<now-playing src="${BASE}/v1/current"`), snippet);
  await page.setViewportSize({ width: 800, height: 900 });
  await page.screenshot({ path: `${SHOTS}/preview-page.png`, fullPage: true });
  await page.setViewportSize({ width: 480, height: 140 });
});

test('the preview page fits a phone and asks for nothing that is not there', async () => {
  // A browser of its own: one asks for a site's icon only once.
  const fresh = await launch();
  const phone = await fresh.newPage({ viewport: { width: 320, height: 700 } });
  try {
    await phone.goto(`${BASE}/`);
    await phone.waitForFunction(
      () => document.querySelector('now-playing')?.shadowRoot?.querySelector('.title')?.textContent !== 'Spotify',
    );
    await phone.waitForFunction(() => document.querySelector('img').complete);
    const fit = await phone.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      clipped: [...document.querySelectorAll('pre')].filter((p) => p.scrollWidth > p.clientWidth).length,
      card: document.querySelector('img').getBoundingClientRect().width,
    }));
    assert.ok(fit.page <= 320 && fit.clipped === 0 && fit.card <= 320, JSON.stringify(fit));
    await phone.screenshot({ path: `${SHOTS}/preview-page-320.png`, fullPage: true });
    // The icon is asked for after the page has loaded (and Playwright does not report it).
    await phone.waitForTimeout(500);
    const missing = await phone.evaluate(() =>
      performance
        .getEntriesByType('resource')
        .filter((r) => r.responseStatus >= 400)
        .map((r) => `${r.responseStatus} ${r.name}`),
    );
    assert.deepEqual(missing, [], 'every request the page makes is answered');
  } finally {
    await fresh.close();
  }
});

for (const theme of ['art', 'light', 'dark']) {
  test(`the ${theme} SVG card is valid XML and renders to a picture`, async () => {
    const url = theme === 'art' ? `${BASE}/v1/current.svg` : `${BASE}/v1/current.svg?theme=${theme}`;
    await page.goto(`${BASE}/`);
    const result = await page.evaluate(async (u) => {
      const text = await (await fetch(u)).text();
      const xml = new DOMParser().parseFromString(text, 'image/svg+xml');
      const img = new Image();
      img.src = u;
      await img.decode();
      const canvas = Object.assign(document.createElement('canvas'), { width: 400, height: 120 });
      const ctx = canvas.getContext('2d');
      ctx.drawImage(img, 0, 0);
      const data = ctx.getImageData(0, 0, 400, 120).data;
      const colours = new Set();
      for (let i = 0; i < data.length; i += 4 * 7)
        colours.add(`${data[i]},${data[i + 1]},${data[i + 2]},${data[i + 3]}`);
      return {
        parseError: xml.querySelector('parsererror')?.textContent ?? null,
        colours: colours.size,
        hasArt: text.includes('data:image/jpeg;base64,'),
      };
    }, url);
    assert.equal(result.parseError, null);
    assert.ok(result.colours > 20, `only ${result.colours} colours: blank?`);
    assert.ok(result.hasArt, 'album art inlined');
    if (theme === 'art') {
      // By default the card is in the art's colours, as the answer's palette gives them.
      const { palette } = (await (await fetch(`${BASE}/v1/current`)).json()).item;
      const svg = await (await fetch(url)).text();
      assert.ok(svg.includes(`rx="12" fill="${palette.background}"`), `the art's background ${palette.background}`);
    }
    await page.goto(url);
    await page.setViewportSize({ width: 400, height: 120 });
    await page.screenshot({ path: `${SHOTS}/card-${theme}.png` });
    await page.setViewportSize({ width: 480, height: 140 });
  });
}

test('the recently played card is valid XML, renders, and lists plays once each', async () => {
  await page.goto(`${BASE}/`);
  const url = `${BASE}/v1/recent.svg?limit=5`;
  const result = await page.evaluate(async (u) => {
    const text = await (await fetch(u)).text();
    const xml = new DOMParser().parseFromString(text, 'image/svg+xml');
    const img = new Image();
    img.src = u;
    await img.decode();
    return {
      parseError: xml.querySelector('parsererror')?.textContent ?? null,
      titles: [...xml.querySelectorAll('text[font-weight="600"]')].map((t) => t.textContent),
      art: (text.match(/href="data:image\//g) || []).length,
      height: img.naturalHeight,
    };
  }, url);
  assert.equal(result.parseError, null);
  assert.deepEqual(result.titles.slice(1), [
    'Never Gonna Give You Up',
    'Together Forever',
    'Whenever You Need Somebody',
  ]);
  assert.equal(result.art, 3, 'each row with its art');
  await page.goto(url);
  await page.setViewportSize({ width: 400, height: result.height });
  await page.screenshot({ path: `${SHOTS}/recent-card.png` });
  await page.setViewportSize({ width: 480, height: 140 });
});

test('<now-playing-recent> lists the plays with their art whole, links to Spotify and text as text', async () => {
  await page.goto(`${BASE}/`);
  await page.setViewportSize({ width: 480, height: 320 });
  // The function's own list first: the stand-in's history, a repeat collapsed.
  await page.evaluate((base) => {
    document.body.innerHTML = `<now-playing-recent src="${base}/v1/recent" limit="3"></now-playing-recent>`;
  }, BASE);
  const rowsOf = () =>
    page.evaluate(() => {
      const root = document.querySelector('now-playing-recent').shadowRoot;
      return [...root.querySelectorAll('li')].map((li) => ({
        title: li.querySelector('.title').textContent,
        sub: li.querySelector('.sub').textContent,
        href: li.querySelector('a').getAttribute('href'),
        fit: getComputedStyle(li.querySelector('img')).objectFit,
        scripts: li.querySelectorAll('script, [onerror]').length,
      }));
    });
  await page.waitForFunction(
    () => document.querySelector('now-playing-recent')?.shadowRoot.querySelectorAll('li').length > 0,
  );
  const rows = await rowsOf();
  assert.deepEqual(
    rows.map((r) => r.title),
    ['Never Gonna Give You Up', 'Together Forever', 'Whenever You Need Somebody'],
  );
  assert.ok(
    rows.every((r) => r.href.startsWith('https://open.spotify.com/') && r.fit === 'contain'),
    rows,
  );
  assert.match(rows[0].sub, /^Rick Astley · 12 minutes ago$/);
  const icon = await page.evaluate(
    () => document.querySelector('now-playing-recent').shadowRoot.querySelector('.brand').getBoundingClientRect().width,
  );
  assert.ok(icon >= 21, `Spotify's icon at 21 px, got ${icon}`);
  await page.locator('now-playing-recent').screenshot({ path: `${SHOTS}/recent-element.png` });
  // A hostile name through the fetch seam is text, and a play without a link links nowhere.
  const live = await page.evaluate(async (base) => (await fetch(`${base}/v1/recent?limit=1`)).json(), BASE);
  const item = { ...live.items[0].item, name: '<img src=x onerror="window.owned=1">', url: null };
  await mountElement(page, 'now-playing-recent', { ...live, items: [{ ...live.items[0], item }] });
  const [hostile] = await rowsOf();
  assert.equal(hostile.title, item.name);
  assert.equal(hostile.scripts, 0);
  assert.equal(hostile.href, null);
  assert.equal(await page.evaluate(() => window.owned), undefined);
  await page.setViewportSize({ width: 480, height: 140 });
});
