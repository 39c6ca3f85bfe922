// <now-playing src="https://HOST/v1/current"></now-playing>: what the owner plays on Spotify.
// <now-playing-header src="…"></now-playing-header>: the same as a full-width band; with
// `page-colors` it also sets --np-background, --np-foreground and --np-accent on the page.
// <now-playing-recent src="https://HOST/v1/recent" limit="5">: what was played before.
// Dependency-free custom elements. Untrusted text only ever goes in through textContent.
// With the `suggest` attribute the widget also loads "Suggest a song" (widget-suggest.js);
// with `live`, pushed answers as they happen (widget-live.js).
const CSS = `
:host{display:block;--np-bg:#fff;--np-fg:#191414;--np-muted:#5f6368;--np-accent:#1db954;--np-track:#e4e6e8;
font:14px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--np-fg);max-width:420px}
:host([theme=dark]){--np-bg:#181818;--np-fg:#fff;--np-muted:#b3b3b3;--np-track:#3e3e3e}
@media (prefers-color-scheme:dark){:host(:not([theme=light])){--np-bg:#181818;--np-fg:#fff;--np-muted:#b3b3b3;
--np-track:#3e3e3e}}
.card{display:flex;gap:12px;align-items:center;background:var(--np-bg);border-radius:12px;padding:12px;
color:var(--np-fg);
box-shadow:0 1px 3px rgba(0,0,0,.2);text-decoration:none;min-height:64px;box-sizing:border-box;
transition:background-color .6s,color .6s}
a.card:focus-visible{outline:3px solid var(--np-accent);outline-offset:2px}
.art{width:64px;height:64px;border-radius:4px;flex:none;background:var(--np-track);object-fit:contain}
.art:not([src]){content:linear-gradient(var(--np-track),var(--np-track))}
.brand{flex:none;align-self:flex-start;color:var(--np-icon,#1ed760)}
.text{min-width:0;flex:1}
.status{font-size:12px;color:var(--np-muted);display:flex;gap:6px;align-items:center}
.dot{width:8px;height:8px;border-radius:50%;background:var(--np-muted)}
.playing .dot{background:var(--np-accent);animation:pulse 1.6s ease-in-out infinite}
.title{font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.sub{color:var(--np-muted);white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.bar{height:4px;border-radius:2px;background:var(--np-track);margin-top:6px;overflow:hidden}
.fill{height:100%;width:0;background:var(--np-accent);transition:width 1s linear}
.placeholder .title{color:var(--np-muted);font-weight:400}
:host([compact]) .card{padding:8px;min-height:0}:host([compact]) .art{width:40px;height:40px}
:host([compact]) .sub,:host([compact]) .bar{display:none}
@keyframes pulse{50%{opacity:.35}}
@media (prefers-reduced-motion:reduce){.playing .dot{animation:none}.fill,.card{transition:none}}`;

// The header: a band as wide as its place, in the art's colours (Spotify's black without),
// laid out by its own width (a site's content column, not the window), one height whatever
// plays: room for the art or for two lines of title, whichever is taller.
const HEADER_CSS =
  CSS +
  `
:host{max-width:none;container-type:inline-size;--np-bg:#191414;--np-fg:#fff;--np-muted:#fff;--np-accent:#1ed760;
--np-track:#535353}
.card{--a:clamp(72px,16cqi,160px);--g:clamp(12px,3cqi,32px);--t:clamp(18px,3.2cqi,32px);--s:clamp(14px,1.8cqi,18px);
--u:clamp(12px,1.4cqi,14px);border-radius:0;box-shadow:none;gap:var(--g);padding:var(--g) clamp(16px,5cqi,64px);
height:calc(max(var(--a),1.35*var(--u) + 2.4*var(--t) + 1.35*var(--s) + 10px) + 2*var(--g));min-height:0}
a.card:focus-visible{outline-offset:-6px}.art{width:var(--a);height:var(--a)}
.title{font-size:var(--t);line-height:1.2;white-space:normal;display:-webkit-box;
-webkit-box-orient:vertical;-webkit-line-clamp:2}
.sub{font-size:var(--s)}.status{font-size:var(--u)}.text{max-width:48rem}
.bar{max-width:24rem}.brand{align-self:center}.cta{flex:none;font-size:13px;font-weight:600;
margin-left:calc(8px - var(--g))}
@container (max-width:800px){.cta{display:none}}`;

// Spotify's icon (simple-icons, CC0) at the guidelines' minimum of 21 px: artwork and
// metadata are shown with the Spotify brand, and the card links back to Spotify.
const SPOTIFY_ICON =
  'M12 0C5.4 0 0 5.4 0 12s5.4 12 12 12 12-5.4 12-12S18.66 0 12 0zm5.521 17.34c-.24.359-.66.48-1.021.24-' +
  '2.82-1.74-6.36-2.101-10.561-1.141-.418.122-.779-.179-.899-.539-.12-.421.18-.78.54-.9 4.56-1.021 8.52' +
  '-.6 11.64 1.32.42.18.479.659.301 1.02zm1.44-3.3c-.301.42-.841.6-1.262.3-3.239-1.98-8.159-2.58-11.939' +
  '-1.38-.479.12-1.02-.12-1.14-.6-.12-.48.12-1.021.6-1.141C9.6 9.9 15 10.561 18.72 12.84c.361.181.54.78' +
  '.241 1.2zm.12-3.36C15.24 8.4 8.82 8.16 5.16 9.301c-.6.179-1.2-.181-1.38-.721-.18-.601.18-1.2.72-1.38' +
  '1 4.26-1.26 11.28-1.02 15.721 1.621.539.3.719 1.02.419 1.56-.299.421-1.02.599-1.559.3z';
const LABEL = { playing: 'Now playing', paused: 'Paused', last_played: 'Last played', offline: 'Offline' };
/** The element's events bubble and cross its shadow root, so a page can listen higher up. */
const EVENT = { bubbles: true, composed: true };
const MIN_POLL = 5e3,
  MAX_POLL = 60e3,
  MAX_BACKOFF = 300e3;

function ago(iso, now) {
  const s = Math.max(0, (now - Date.parse(iso)) / 1e3);
  const [n, unit] =
    s < 90
      ? [0, '']
      : s < 5400
        ? [Math.round(s / 60), 'minute']
        : s < 129600
          ? [Math.round(s / 3600), 'hour']
          : [Math.round(s / 86400), 'day'];
  return n ? ` ${n} ${unit}${n > 1 ? 's' : ''} ago` : ' just now';
}

/** A link from an answer, if it is an https: one: the function sends no other, and a page
 * must not depend on that alone. */
export const linkOf = (url) => (/^https:\/\//i.test(url || '') ? url : null);

/** Roughly how light a `#rrggbb` colour is, weighted as the eye sees. */
const light = (hex) => [2, 7, 1].reduce((sum, w, i) => sum + w * parseInt(hex.slice(1 + 2 * i, 3 + 2 * i), 16), 0);

/** Sets `--np-<name>` on `style` for each colour, or removes them all when `colours` is null. */
function colour(style, colours, names) {
  for (const [name, key] of Object.entries(names)) {
    if (colours) style.setProperty(`--np-${name}`, colours[key]);
    else style.removeProperty(`--np-${name}`);
  }
}

export class NowPlayingElement extends HTMLElement {
  #data = null;
  #failures = 0;
  #timer = 0;
  #ticker = 0;
  #modules = {};
  #el;
  #onVisibility;
  static css = CSS;
  static cta = '';
  static define(tag = 'now-playing', registry = customElements) {
    if (!registry.get(tag)) registry.define(tag, this);
    return this;
  }
  static get observedAttributes() {
    return ['src', 'suggest', 'live'];
  }

  constructor() {
    super();
    this.fetch = (url, init) => fetch(url, init); // replaceable seam
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>${this.constructor.css}</style>
<a class="card placeholder" part="card" target="_blank" rel="noopener noreferrer">
<img class="art" alt="" part="art"><div class="text">
<div class="status"><span class="dot"></span><span class="label"></span></div>
<div class="title">Spotify</div><div class="sub"></div><div class="bar" role="progressbar" aria-valuemin="0">
<div class="fill"></div></div></div>
<svg class="brand" part="brand" viewBox="0 0 24 24" width="21" height="21" aria-hidden="true" focusable="false">
<path fill="currentColor" d="${SPOTIFY_ICON}"/></svg>${this.constructor.cta}</a>`;
    const $ = (s) => root.querySelector(s);
    this.#el = {
      card: $('.card'),
      art: $('.art'),
      label: $('.label'),
      title: $('.title'),
      sub: $('.sub'),
      bar: $('.bar'),
      fill: $('.fill'),
      cta: $('.cta'),
    };
    this.#onVisibility = () => (document.hidden ? this.#pause() : this.poll());
  }

  get src() {
    return this.getAttribute('src') || '';
  }
  set src(v) {
    this.setAttribute('src', v);
  }
  get theme() {
    return this.getAttribute('theme') || 'auto';
  }
  set theme(v) {
    this.setAttribute('theme', v);
  }
  get compact() {
    return this.hasAttribute('compact');
  }
  set compact(v) {
    this.toggleAttribute('compact', !!v);
  }

  connectedCallback() {
    document.addEventListener('visibilitychange', this.#onVisibility);
    for (const name of ['suggest', 'live']) if (this.hasAttribute(name)) this.#load(name);
    this.poll();
  }
  disconnectedCallback() {
    document.removeEventListener('visibilitychange', this.#onVisibility);
    this.#pause();
    if (this.#modules.live) this.#modules.live.then((live) => live && live.close());
    delete this.#modules.live;
  }
  attributeChangedCallback(name, old, value) {
    if (name !== 'src' && value !== null && this.isConnected) this.#load(name);
    if (name === 'src' && old !== null && old !== value && this.isConnected) this.poll();
  }

  /** Loads widget-NAME.js (beside this script, same version) once: "Suggest a song", live. */
  #load(name) {
    if (this.#modules[name]) return;
    const url = new URL(`widget-${name}.js`, import.meta.url);
    url.search = new URL(import.meta.url).search;
    this.#modules[name] = import(url.href).then(
      (m) => m.attach(this),
      (e) => {
        delete this.#modules[name];
        this.dispatchEvent(new CustomEvent('error', { ...EVENT, detail: `${name}: ${e.message}` }));
      },
    );
  }

  /** Shows `doc` (a pushed or polled answer) unless the one shown was read later. */
  show(doc) {
    if (this.#data && Date.parse(doc.fetched_at) < Date.parse(this.#data.fetched_at)) return;
    clearInterval(this.#ticker);
    this.#data = doc;
    this.#render();
    this.dispatchEvent(new Event('load', EVENT));
  }

  #pause() {
    clearTimeout(this.#timer);
    clearInterval(this.#ticker);
    this.#timer = this.#ticker = 0;
  }

  async poll() {
    this.#pause();
    if (!this.src || document.hidden) return;
    try {
      const res = await this.fetch(this.src, { headers: { Accept: 'application/json' }, cache: 'no-cache' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const doc = await res.json();
      this.#failures = 0;
      this.show(doc);
    } catch (e) {
      this.#failures++;
      if (!this.#data) this.#placeholder();
      this.dispatchEvent(new CustomEvent('error', { ...EVENT, detail: String((e && e.message) || e) }));
    }
    if (!this.isConnected || document.hidden) return;
    this.#timer = setTimeout(() => this.poll(), this.#nextDelay());
  }

  /** When the track should end, or a polite interval; longer when stale or failing. */
  #nextDelay() {
    if (this.#failures) return Math.min(MAX_BACKOFF, MIN_POLL * 2 ** this.#failures);
    const d = this.#data || {};
    let wait = d.status === 'playing' ? 15e3 : 30e3;
    if (d.status === 'playing' && d.item && d.progress_ms != null) {
      wait = Math.min(wait, d.item.duration_ms - this.#position() + 1e3);
    }
    if (d.stale) wait = Math.max(wait, 30e3);
    return Math.min(MAX_POLL, Math.max(MIN_POLL, wait));
  }

  /** Progress now: the answer's progress advanced by the time since Spotify was read. */
  #position() {
    const d = this.#data;
    if (!d || d.progress_ms == null) return 0;
    const since = d.status === 'playing' ? Math.max(0, Date.now() - Date.parse(d.fetched_at)) : 0;
    return Math.min(d.item ? d.item.duration_ms : 0, d.progress_ms + since);
  }

  /** The 300 px rendition (of Spotify's 640, 300 and 64), which covers 64 px at any density. */
  picture(images, art) {
    const image = images[images.length > 1 ? images.length - 2 : 0];
    if (!image) art.removeAttribute('src');
    else if (art.src !== image.url) art.src = image.url;
  }

  /** The art's colours (Spotify's recommendation), unless the `theme` attribute pins a theme.
   * Only the foreground is sure to be readable, so secondary text uses it too; Spotify's icon
   * turns from green to white or black (the foreground's side), as the brand asks on a colour. */
  paint(palette) {
    const p =
      palette && !this.pinned()
        ? {
            ...palette,
            track: `color-mix(in srgb,${palette.foreground} 30%,${palette.background})`,
            icon: light(palette.foreground) > light(palette.background) ? '#fff' : '#000',
          }
        : null;
    colour(this.#el.card.style, p, {
      bg: 'background',
      fg: 'foreground',
      muted: 'foreground',
      accent: 'accent',
      track: 'track',
      icon: 'icon',
    });
  }

  pinned() {
    return this.hasAttribute('theme');
  }

  #placeholder() {
    const { card, art, label, title, sub, bar } = this.#el;
    card.className = 'card placeholder';
    card.removeAttribute('href');
    card.setAttribute('aria-label', 'Spotify: nothing to show');
    art.removeAttribute('src');
    this.paint(null);
    if (this.#el.cta) this.#el.cta.textContent = 'Spotify';
    label.textContent = '';
    title.textContent = 'Spotify';
    sub.textContent = '';
    bar.hidden = true;
  }

  #render() {
    const d = this.#data;
    const { card, art, label, title, sub, bar, fill } = this.#el;
    if (!d || !d.item) {
      this.#placeholder();
      label.textContent = LABEL.offline;
      return;
    }
    const item = d.item;
    card.className = `card ${d.status}`;
    const url = linkOf(item.url);
    if (url) card.href = url;
    else card.removeAttribute('href');
    card.title = url ? 'Listen on Spotify' : 'From Spotify';
    this.picture(item.images || [], art);
    this.paint(item.palette);
    if (this.#el.cta) this.#el.cta.textContent = card.title;
    label.textContent =
      (LABEL[d.status] || '') +
      (d.status === 'last_played' && d.played_at ? ago(d.played_at, Date.now()) : '') +
      (d.stale ? ' · may be out of date' : '');
    title.textContent = item.name;
    const by = (item.artists || []).map((a) => a.name).join(', ');
    sub.textContent = item.type === 'episode' ? by : [by, item.album && item.album.name].filter(Boolean).join(' · ');
    card.setAttribute('aria-label', `${LABEL[d.status] || 'Spotify'}: ${item.name}${by ? ` by ${by}` : ''}`);
    const hasBar = d.progress_ms != null && item.duration_ms > 0;
    bar.hidden = !hasBar;
    if (hasBar) {
      bar.setAttribute('aria-valuemax', String(item.duration_ms));
      const tick = () => {
        const at = this.#position();
        fill.style.width = `${(100 * at) / item.duration_ms}%`;
        bar.setAttribute('aria-valuenow', String(Math.round(at)));
      };
      tick();
      if (d.status === 'playing') this.#ticker = setInterval(tick, 1e3);
    }
  }
}

/** The header band: the art larger (the rendition the band's size needs), always in the art's
 * colours, and with `page-colors` the page's custom properties. */
export class NowPlayingHeader extends NowPlayingElement {
  static css = HEADER_CSS;
  static cta = '<span class="cta" part="cta">Spotify</span>';
  static define(tag = 'now-playing-header', registry = customElements) {
    return super.define(tag, registry);
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    if (this.hasAttribute('page-colors')) this.pageColours(null);
  }

  picture(images, art) {
    // No art: an empty square, neither `src` nor `srcset` (an empty one is a broken image).
    if (!images.length) return ['src', 'srcset'].forEach((a) => art.removeAttribute(a));
    const sized = images.filter((i) => i.width);
    art.srcset = sized.map((i) => `${i.url} ${i.width}w`).join(', ');
    art.sizes = '(max-width:450px) 72px,(min-width:1000px) 160px,16vw';
    if (images.length && art.getAttribute('src') !== images[0].url) art.src = images[0].url;
  }

  pinned() {
    return false;
  }

  paint(palette) {
    super.paint(palette);
    if (this.hasAttribute('page-colors')) this.pageColours(palette);
  }

  /** `--np-background`, `--np-foreground`, `--np-accent` on the root, or none without art. */
  pageColours(palette) {
    colour(document.documentElement.style, palette, {
      background: 'background',
      foreground: 'foreground',
      accent: 'accent',
    });
  }
}

export class NowPlayingRecent extends HTMLElement {
  static define(tag = 'now-playing-recent', registry = customElements) {
    if (!registry.get(tag)) registry.define(tag, this);
    return this;
  }

  constructor() {
    super();
    this.fetch = (url, init) => fetch(url, init);
    this.attachShadow({ mode: 'open' }).innerHTML = `<style>${CSS}ol{list-style:none;margin:8px 0 0;padding:0}
li+li{margin-top:8px}li .card{box-shadow:none;padding:0;min-height:0}li .art{width:40px;height:40px}</style>
<div class="card" part="card" style="display:block"><div class="status">Recently played
<svg class="brand" viewBox="0 0 24 24" width="21" height="21" aria-hidden="true" style="margin-left:auto">
<path fill="currentColor" d="${SPOTIFY_ICON}"/></svg></div><ol></ol></div>`;
  }

  connectedCallback() {
    this.load();
    this.timer = setInterval(() => this.load(), MAX_POLL);
  }
  disconnectedCallback() {
    clearInterval(this.timer);
  }

  async load() {
    try {
      const url = new URL(this.getAttribute('src') || '', location.href);
      url.searchParams.set('limit', this.getAttribute('limit') || '5');
      const res = await this.fetch(url.href, { headers: { Accept: 'application/json' } });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const now = Date.now();
      const rows = (await res.json()).items.map(({ item, played_at }) => {
        const li = document.createElement('li');
        li.innerHTML = `<a class="card" target="_blank" rel="noopener noreferrer"><img class="art" alt="">
<div class="text"><div class="title"></div><div class="sub"></div></div></a>`;
        const [a, img, title, sub] = li.querySelectorAll('a,img,.title,.sub');
        if (linkOf(item.url)) a.href = item.url;
        const small = item.images.at(-1);
        if (small) img.src = small.url;
        else img.hidden = true;
        title.textContent = item.name;
        sub.textContent = item.artists.map((x) => x.name).join(', ') + ' ·' + ago(played_at, now);
        return li;
      });
      this.shadowRoot.querySelector('ol').replaceChildren(...rows);
      this.dispatchEvent(new Event('load', EVENT));
    } catch (e) {
      this.dispatchEvent(new CustomEvent('error', { ...EVENT, detail: String((e && e.message) || e) }));
    }
  }
}

NowPlayingElement.define();
NowPlayingHeader.define();
NowPlayingRecent.define();
