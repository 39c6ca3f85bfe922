// <now-playing-header> and the art's colours in headless Chromium, against the function
// running locally with the Spotify stand-in (NP_URL; started by tests/test_browser.py).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, SHOTS, launch, mountElement } from './support.mjs';

let browser;
let page;
let live; // the function's own answer: the stand-in's art and the palette computed from it

const now = () => new Date().toISOString();
const STATES = {
  playing: () => ({
    ...live,
    status: 'playing',
    is_playing: true,
    progress_ms: 60000,
    played_at: null,
    fetched_at: now(),
    stale: false,
  }),
  paused: () => ({ ...STATES.playing(), status: 'paused', is_playing: false }),
  last_played: () => ({
    ...STATES.playing(),
    status: 'last_played',
    is_playing: false,
    progress_ms: null,
    played_at: new Date(Date.now() - 7 * 60e3).toISOString(),
  }),
  local_file: () => ({
    ...STATES.playing(),
    item: { ...live.item, id: null, url: null, name: 'Garage Take 3', images: [], palette: null, is_local: true },
  }),
  offline: () => ({
    status: 'offline',
    is_playing: false,
    item: null,
    progress_ms: null,
    played_at: null,
    fetched_at: now(),
    stale: false,
  }),
  error: null,
};

const rgb = (hex) => `rgb(${[1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(', ')})`;

before(async () => {
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1280, height: 400 } });
  // Colours are read at once, not halfway through their transition (tested on its own below).
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto(`${BASE}/`);
  live = await page.evaluate(async (base) => (await fetch(`${base}/v1/current`)).json(), BASE);
  assert.ok(live.item?.palette, `the function answers a palette for the stand-in's art: ${JSON.stringify(live.item)}`);
});

after(async () => browser && browser.close());

/** Replaces the page body with one header fed `state` through its fetch seam; `column`, a
 * width in px, puts it in a site's content column of that width, centred in the window. */
async function mount(state, attrs = {}, column = null) {
  const body = STATES[state] ? STATES[state]() : null;
  await mountElement(page, 'now-playing-header', body, {
    attrs,
    style: column ? `margin:0 auto;padding:0;max-width:${column}px` : 'margin:0;padding:0;max-width:none',
    after: '<main style="padding:16px">The rest of the page.</main>',
  });
  // The art, when there is some, has loaded.
  await page.waitForFunction(() => {
    const art = document.querySelector('now-playing-header').shadowRoot.querySelector('.art');
    return !art.getAttribute('src') || (art.complete && art.naturalWidth > 0);
  });
}

/** Where the band's parts are, relative to the band: what must not move between states. */
const places = () =>
  page.evaluate(() => {
    const host = document.querySelector('now-playing-header');
    const band = host.getBoundingClientRect();
    const at = (s) => {
      const e = host.shadowRoot.querySelector(s);
      const r = e.getBoundingClientRect();
      return getComputedStyle(e).display === 'none'
        ? null
        : { x: r.x - band.x, y: r.y - band.y, w: r.width, h: r.height };
    };
    return {
      band: { w: band.width, h: band.height },
      art: at('.art'),
      text: at('.text'),
      brand: at('.brand'),
      cta: at('.cta'),
    };
  });

/** What a reviewer checks on the band: its box, the art's rendering, the brand and link. */
const look = () =>
  page.evaluate(() => {
    const host = document.querySelector('now-playing-header');
    const root = host.shadowRoot;
    const card = root.querySelector('.card');
    const art = root.querySelector('.art');
    const box = art.getBoundingClientRect();
    const style = getComputedStyle(art);
    const brand = root.querySelector('.brand').getBoundingClientRect();
    const hit = art.hidden ? null : root.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
    return {
      height: host.getBoundingClientRect().height,
      width: host.getBoundingClientRect().width,
      background: getComputedStyle(card).backgroundColor,
      colour: getComputedStyle(card).color,
      transition: getComputedStyle(card).transitionDuration,
      art: !art.getAttribute('src')
        ? null
        : {
            width: box.width,
            height: box.height,
            natural: art.naturalWidth / art.naturalHeight,
            fit: style.objectFit,
            filter: style.filter,
            radius: parseFloat(style.borderRadius),
            onTop: hit === art,
            src: art.currentSrc,
          },
      brand: brand.width,
      href: card.getAttribute('href'),
      title: root.querySelector('.title').textContent,
    };
  });

for (const width of [360, 600, 800, 1280]) {
  describe(`at ${width} px wide`, () => {
    test('every state keeps the band one height, the art whole and square, and Spotify credited', async () => {
      await page.setViewportSize({ width, height: 400 });
      const heights = {};
      const where = {};
      for (const state of Object.keys(STATES)) {
        await mount(state);
        const l = await look();
        heights[state] = l.height;
        const p = await places();
        where[state] = JSON.stringify({ art: p.art, text: p.text.x, brand: p.brand, cta: p.cta && p.cta.x });
        assert.ok(p.art && p.art.w > 0 && p.art.w === p.art.h, `${state}: the art's square is there: ${where[state]}`);
        if (!l.art)
          assert.ok(
            await page.evaluate(() =>
              ['src', 'srcset'].every(
                (a) => !document.querySelector('now-playing-header').shadowRoot.querySelector('.art').hasAttribute(a),
              ),
            ),
            `${state}: an empty square, not a broken image`,
          );
        assert.equal(l.width, width, `${state}: full width`);
        assert.ok(l.brand >= 21, `${state}: Spotify's icon at 21 px at least, got ${l.brand}`);
        if (['playing', 'paused', 'last_played'].includes(state)) {
          assert.ok(l.art, `${state}: art shown`);
          assert.equal(l.art.width, l.art.height, `${state}: a square box`);
          assert.equal(l.art.natural, 1, `${state}: a square image, so nothing is letterboxed or cropped`);
          assert.equal(l.art.fit, 'contain', state);
          assert.equal(l.art.filter, 'none', `${state}: no filter`);
          assert.ok(l.art.radius <= 8, `${state}: corners of ${l.art.radius} px`);
          assert.ok(l.art.onTop, `${state}: nothing laid over the art`);
          assert.equal(l.href, live.item.url, `${state}: links back to Spotify`);
          assert.equal(l.background, rgb(live.item.palette.background), `${state}: the art's background`);
          assert.equal(l.colour, rgb(live.item.palette.foreground), `${state}: the art's foreground`);
        } else {
          assert.equal(l.background, 'rgb(25, 20, 20)', `${state}: Spotify's #191414 without art`);
        }
        if (state !== 'error')
          await page.screenshot({
            path: `${SHOTS}/header-${state}-${width}.png`,
            clip: { x: 0, y: 0, width, height: Math.ceil(l.height) + 40 },
          });
      }
      assert.equal(new Set(Object.values(heights)).size, 1, `the page never jumps: ${JSON.stringify(heights)}`);
      assert.equal(new Set(Object.values(where)).size, 1, `nothing moves sideways: ${JSON.stringify(where, null, 1)}`);
      // Two lines of title, its status, artist line and bar at their smallest sizes, with the padding.
      if (width === 360) assert.ok(heights.playing <= 116, `compact on a phone: ${heights.playing}`);
    });
  });
}

test('in a content column of 400 to 800 px, in a wide window, a 30-character title is read whole', async () => {
  const name = 'Never Gonna Give You Up (Live)';
  assert.equal(name.length, 30);
  STATES.long = () => ({ ...STATES.playing(), item: { ...live.item, name } });
  try {
    for (const [window, column] of [
      [1400, 400],
      [1400, 420],
      [1280, 560],
      [1280, 704],
      [1400, 800],
      [700, 700],
      [1400, 801],
      [1400, 1100],
    ]) {
      await page.setViewportSize({ width: window, height: 500 });
      await mount('long', {}, column);
      const shown = await page.evaluate(() => {
        const host = document.querySelector('now-playing-header');
        const root = host.shadowRoot;
        const band = host.getBoundingClientRect();
        const title = root.querySelector('.title');
        const box = title.getBoundingClientRect();
        const text = root.querySelector('.text').getBoundingClientRect();
        const brand = root.querySelector('.brand').getBoundingClientRect();
        const cta = root.querySelector('.cta');
        const link = getComputedStyle(cta).display === 'none' ? null : cta.getBoundingClientRect();
        return {
          band: band.width,
          width: box.width,
          whole: title.scrollWidth <= title.clientWidth + 1 && title.scrollHeight <= title.clientHeight + 1,
          top: text.top - band.top,
          bottom: band.bottom - text.bottom,
          clearOfIcon: box.right <= brand.left,
          linkInside: !link || (link.left >= brand.right && link.right <= band.right),
        };
      });
      const at = `a ${column} px column in a ${window} px window: ${JSON.stringify(shown)}`;
      assert.equal(Math.round(shown.band), column, at);
      assert.ok(shown.whole && shown.width >= 150, `the title is cut: ${at}`);
      assert.ok(shown.top >= 8 && shown.bottom >= 8, `the text keeps clear of the band's edges: ${at}`);
      assert.ok(shown.clearOfIcon && shown.linkInside, at);
      await page.screenshot({
        path: `${SHOTS}/header-column-${column}-in-${window}.png`,
        clip: { x: 0, y: 0, width: window, height: 260 },
      });
    }
  } finally {
    delete STATES.long;
  }
});

test('the focus ring is drawn inside the band', async () => {
  await page.setViewportSize({ width: 800, height: 400 });
  await mount('playing');
  await page.keyboard.press('Tab');
  const ring = await page.evaluate(() => {
    const card = document.querySelector('now-playing-header').shadowRoot.querySelector('.card');
    const s = getComputedStyle(card);
    return {
      focused: card.matches(':focus-visible'),
      width: parseFloat(s.outlineWidth),
      offset: parseFloat(s.outlineOffset),
    };
  });
  assert.ok(ring.focused, JSON.stringify(ring));
  assert.ok(ring.width >= 2 && ring.offset <= -ring.width, `the ring must lie inside: ${JSON.stringify(ring)}`);
  await page.screenshot({ path: `${SHOTS}/header-focus.png`, clip: { x: 0, y: 0, width: 800, height: 240 } });
});

test('at 320 px nothing overflows the band', async () => {
  await page.setViewportSize({ width: 320, height: 400 });
  await mount('playing');
  const overflow = await page.evaluate(() => {
    const card = document.querySelector('now-playing-header').shadowRoot.querySelector('.card');
    const band = card.getBoundingClientRect();
    const status = card.querySelector('.status').getBoundingClientRect();
    const bar = card.querySelector('.bar').getBoundingClientRect();
    return {
      scroll: card.scrollWidth,
      client: card.clientWidth,
      page: document.documentElement.scrollWidth,
      top: status.top - band.top,
      bottom: band.bottom - bar.bottom,
    };
  });
  assert.ok(overflow.scroll <= overflow.client && overflow.page <= 320, JSON.stringify(overflow));
  assert.ok(overflow.top >= 8 && overflow.bottom >= 8, `clear of the band's edges: ${JSON.stringify(overflow)}`);
});

test('page-colors puts the palette on the page root, and takes it away without art', async () => {
  await page.setViewportSize({ width: 1280, height: 400 });
  const root = () =>
    page.evaluate(() =>
      ['background', 'foreground', 'accent'].map((n) => document.documentElement.style.getPropertyValue(`--np-${n}`)),
    );
  await mount('playing');
  assert.deepEqual(await root(), ['', '', ''], 'only with page-colors');
  await mount('playing', { 'page-colors': '' });
  const { background, foreground, accent } = live.item.palette;
  assert.deepEqual(await root(), [background, foreground, accent]);
  // An owner's three lines of CSS colour the page with the music.
  await page.addStyleTag({
    content: 'body{background:var(--np-background,#fff);color:var(--np-foreground,#000)} a{color:var(--np-accent)}',
  });
  assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), rgb(background));
  await page.screenshot({ path: `${SHOTS}/header-page-colors.png`, clip: { x: 0, y: 0, width: 1280, height: 300 } });
  await mount('offline', { 'page-colors': '' });
  assert.deepEqual(await root(), ['', '', ''], "the owner's fallbacks apply again");
  await mount('playing', { 'page-colors': '' });
  await page.evaluate(() => document.querySelector('now-playing-header').remove());
  assert.deepEqual(await root(), ['', '', ''], 'removed with the element');
});

test('the colour change between tracks is a transition, except with reduced motion', async () => {
  await page.emulateMedia({ reducedMotion: 'no-preference' });
  await mount('playing');
  assert.match((await look()).transition, /^0\.6s/);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await mount('playing');
  assert.match((await look()).transition, /^0s/);
});

test("the widget takes the art's colours too, unless its theme is pinned", async () => {
  await page.setViewportSize({ width: 480, height: 140 });
  await mountElement(page, 'now-playing', STATES.playing());
  const colours = () =>
    page.evaluate(() => {
      const root = document.querySelector('now-playing').shadowRoot;
      return [
        getComputedStyle(root.querySelector('.card')).backgroundColor,
        getComputedStyle(root.querySelector('.title')).color,
        getComputedStyle(root.querySelector('.brand')).color,
      ];
    });
  const { background, foreground } = live.item.palette;
  assert.deepEqual(
    await colours(),
    [rgb(background), rgb(foreground), 'rgb(255, 255, 255)'],
    "Spotify's icon in white on a dark colour",
  );
  await page.locator('now-playing').screenshot({ path: `${SHOTS}/widget-art-colours.png` });
  await page.evaluate(() => document.querySelector('now-playing').setAttribute('theme', 'light'));
  await page.evaluate(() => document.querySelector('now-playing').poll());
  await page.waitForTimeout(100);
  assert.deepEqual(await colours(), ['rgb(255, 255, 255)', 'rgb(25, 20, 20)', 'rgb(30, 215, 96)']);
});

test('the preview page shows the header with its snippet', async () => {
  await page.setViewportSize({ width: 800, height: 900 });
  await page.goto(`${BASE}/`);
  await page.waitForFunction(
    () => document.querySelector('now-playing-header')?.shadowRoot?.querySelector('.title')?.textContent !== 'Spotify',
  );
  const snippets = await page.locator('pre').allTextContents();
  assert.ok(
    snippets.some((s) => s.includes(`<now-playing-header src="${BASE}/v1/current"`)),
    snippets.join('\n'),
  );
});
