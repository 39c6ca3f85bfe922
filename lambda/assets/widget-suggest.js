// "Suggest a song" for <now-playing src="..." suggest>: the widget imports this module only
// when the attribute is present. Untrusted text (track names, artists, the server's
// messages) only ever goes in through textContent.

const CSS = `
.sg-open{margin-top:8px;font:inherit;font-weight:600;color:var(--np-fg);background:var(--np-bg);
border:1px solid var(--np-track);
border-radius:999px;padding:6px 14px;cursor:pointer}
:host(:not([suggest])) .sg-open{display:none}
.sg-open:focus-visible,.sg button:focus-visible,.sg input:focus-visible,.sg textarea:focus-visible,
.sg a:focus-visible{outline:3px solid var(--np-accent);outline-offset:2px}
.sg{width:min(420px,calc(100vw - 32px));box-sizing:border-box;border:0;border-radius:12px;padding:16px;
color:var(--np-fg);background:var(--np-bg);
box-shadow:0 8px 32px rgba(0,0,0,.35)}
.sg::backdrop{background:rgba(0,0,0,.45)}
.sg-head{display:flex;justify-content:space-between;align-items:center;gap:8px}
.sg h2{font-size:18px;margin:0}
.sg-close{font:inherit;font-size:20px;line-height:1;background:none;border:0;color:var(--np-fg);cursor:pointer;
padding:4px 8px;border-radius:6px}
.sg label{display:block;font-weight:600;margin:12px 0 4px}
.sg input,.sg textarea{box-sizing:border-box;width:100%;font:inherit;color:var(--np-fg);background:var(--np-bg);
border:1px solid var(--np-muted);border-radius:6px;padding:8px}
.sg textarea{resize:vertical;min-height:3.2em}
.sg-hint{font-size:12px;color:var(--np-muted);margin:4px 0 0}
.sg-list{list-style:none;margin:6px 0 0;padding:0;max-height:240px;overflow:auto;border-radius:6px}
.sg-list:empty{display:none}
.sg-list li{display:flex;gap:10px;align-items:center;padding:6px;border-radius:6px;cursor:pointer}
.sg-list li.active{background:var(--np-track)}
.sg-list li[aria-selected=true]{box-shadow:inset 3px 0 0 var(--np-accent)}
.sg-list img,.sg-pick img{width:40px;height:40px;flex:none;border-radius:4px;object-fit:contain;
background:var(--np-track)}
.sg-t{min-width:0}.sg-t b,.sg-t span{display:block;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.sg-t span{color:var(--np-muted);font-size:12px}
.sg-brand{display:inline-flex;gap:6px;align-items:center;font-size:12px;color:var(--np-muted);margin-top:6px;
text-decoration:none}
.sg-brand .brand{align-self:center}
.sg-pick{display:flex;gap:10px;align-items:center;margin-top:12px;padding:8px;border:1px solid var(--np-track);
border-radius:8px}
.sg-pick a{font-size:12px;color:var(--np-fg)}
.sg-trap{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}
.sg-send{margin-top:14px;font:inherit;font-weight:700;color:#000;background:#1ed760;border:0;border-radius:999px;
padding:10px 18px;cursor:pointer}
.sg-send:disabled{opacity:.5;cursor:default}
.sg-status{min-height:1.35em;margin:10px 0 0}`;

const MARKUP = `<button type="button" class="sg-open" part="suggest-button"
 aria-haspopup="dialog">Suggest a song</button>
<dialog class="sg" part="suggest-dialog" aria-labelledby="sg-title"><form class="sg-form" novalidate>
<div class="sg-head"><h2 id="sg-title">Suggest a song</h2>
<button type="button" class="sg-close" aria-label="Close">×</button></div>
<label for="sg-q">Search for a song</label>
<input id="sg-q" type="search" role="combobox" aria-autocomplete="list" aria-expanded="false" aria-controls="sg-list"
 aria-describedby="sg-hint" autocomplete="off" maxlength="100" spellcheck="false">
<p class="sg-hint" id="sg-hint">Type at least 2 characters; choose with the arrow keys and Enter.</p>
<ul class="sg-list" id="sg-list" role="listbox" aria-label="Songs found" tabindex="-1"></ul>
<a class="sg-brand" href="https://open.spotify.com/" target="_blank" rel="noopener noreferrer"><span>Songs from Spotify</span></a>
<div class="sg-pick" hidden><img alt=""><div class="sg-t"><b></b><span></span>
<a target="_blank" rel="noopener noreferrer">Listen on Spotify</a></div></div>
<label for="sg-name">Your name (optional)</label><input id="sg-name" maxlength="40" autocomplete="nickname">
<label for="sg-message">A message for the owner (optional)</label>
<textarea id="sg-message" maxlength="140" rows="2"></textarea>
<div class="sg-trap" aria-hidden="true"><label for="sg-website">Leave this empty</label>
<input id="sg-website" name="website" tabindex="-1" autocomplete="off"></div>
<button type="submit" class="sg-send" disabled>Send suggestion</button>
<p class="sg-status" role="status"></p></form></dialog>`;

const DEBOUNCE_MS = 300;
const MIN_QUERY = 2;
/** A solved challenge is used well inside its 10-minute life. */
const PROOF_LIFE_MS = 8 * 60e3;

/** ALTCHA's classic proof of work: the number n, at most `max`, whose SHA-256 of salt + n is
 * `challenge`. Self-contained: it also runs as the body of a Web Worker. */
export async function solve(challenge, salt, max) {
  const want = new Uint8Array(challenge.match(/../g).map((h) => parseInt(h, 16)));
  const encoder = new TextEncoder();
  const same = (buffer) => {
    const got = new Uint8Array(buffer);
    for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) return false;
    return true;
  };
  for (let start = 0; start <= max; start += 1000) {
    const batch = [];
    for (let n = start; n <= Math.min(max, start + 999); n++)
      batch.push(crypto.subtle.digest('SHA-256', encoder.encode(salt + n)));
    const found = (await Promise.all(batch)).findIndex(same);
    if (found >= 0) return start + found;
  }
  return null;
}

/** Solves in a Web Worker; on the page itself where the page's policy forbids workers. */
function prove(challenge, salt, max) {
  return new Promise((resolve) => {
    let worker;
    const fallback = () => {
      if (worker) worker.terminate();
      resolve(solve(challenge, salt, max));
    };
    try {
      const url = URL.createObjectURL(
        new Blob([`const solve=${solve};onmessage=async(e)=>postMessage(await solve(...e.data));`], {
          type: 'text/javascript',
        }),
      );
      worker = new Worker(url);
      worker.onmessage = (e) => {
        worker.terminate();
        URL.revokeObjectURL(url);
        resolve(e.data);
      };
      worker.onerror = (e) => {
        e.preventDefault();
        URL.revokeObjectURL(url);
        fallback();
      };
      worker.postMessage([challenge, salt, max]);
    } catch {
      fallback();
    }
  });
}

/** "40 minutes", from a Retry-After in seconds. */
export function waitFor(seconds) {
  const s = Math.max(1, Math.round(Number(seconds) || 60));
  const [n, unit] = s < 90 ? [s, 'second'] : s < 5400 ? [Math.round(s / 60), 'minute'] : [Math.round(s / 3600), 'hour'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** A failed answer as { code, message, retryAfter }. */
/** What the service answered instead: its stable error code, HTTP status, message and wait. */
class ServiceError extends Error {
  constructor(code, { status = 0, message = '', retryAfter = null } = {}) {
    super(message);
    this.name = 'ServiceError';
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/** The service's JSON error, or its HTTP status, as a `ServiceError`. */
async function failure(res) {
  let error = {};
  try {
    error = (await res.json()).error || {};
  } catch {
    /* not JSON */
  }
  return new ServiceError(error.code || `http_${res.status}`, {
    status: res.status,
    message: error.message || '',
    retryAfter: res.headers.get('Retry-After'),
  });
}

const SEARCH_PROBLEM = {
  rate_limited: (f) => `Too many searches: try again in ${waitFor(f.retryAfter)}.`,
  suggestions_closed: () => 'Suggestions are closed.',
};

const SEND_OUTCOME = {
  added: (t) => `Thank you! “${t.name}” is on the playlist.`,
  pending: (t) => `Thank you! “${t.name}” is waiting for the owner to listen.`,
  already_suggested: (t) => `“${t.name}” was already suggested. Pick another?`,
  rate_limited: (t, f) => `Too many suggestions: try again in ${waitFor(f.retryAfter)}.`,
  track_not_found: () => 'Spotify does not have that song any more. Pick another?',
  suggestions_closed: () => 'Suggestions are closed.',
  suggestions_not_authorized: () => 'Suggestions are not set up yet. Please try again another day.',
  proof_required: () => 'The check that you are not a robot failed. Please send again.',
  bad_request: (t, f) => `Not sent: ${f.message || 'the server refused it'}`,
  payload_too_large: (t, f) => `Not sent: ${f.message || 'it is too long'}`,
};

class Suggest {
  #host;
  #el;
  #tracks;
  #active;
  #chosen;
  #proof;
  #searching;
  #timer;

  constructor(host) {
    this.#host = host;
    const root = host.shadowRoot;
    const style = document.createElement('style');
    style.textContent = CSS;
    const template = document.createElement('template');
    template.innerHTML = MARKUP;
    // The results credit Spotify with the widget's own icon.
    const icon = root.querySelector('.card .brand').cloneNode(true);
    icon.removeAttribute('part');
    template.content.querySelector('.sg-brand').prepend(icon);
    root.append(style, template.content);
    const $ = (s) => root.querySelector(s);
    this.#el = {
      open: $('.sg-open'),
      dialog: $('.sg'),
      form: $('.sg-form'),
      close: $('.sg-close'),
      query: $('#sg-q'),
      list: $('#sg-list'),
      pick: $('.sg-pick'),
      name: $('#sg-name'),
      message: $('#sg-message'),
      trap: $('#sg-website'),
      send: $('.sg-send'),
      status: $('.sg-status'),
    };
    this.#tracks = [];
    this.#active = -1;
    this.#chosen = null;
    this.#proof = null;
    this.#searching = null;
    this.#timer = 0;
    const { open, dialog, close, query, form } = this.#el;
    open.addEventListener('click', () => {
      dialog.showModal();
      query.focus();
    });
    close.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => open.focus());
    query.addEventListener('input', () => {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.search(), DEBOUNCE_MS);
    });
    query.addEventListener('keydown', (e) => this.key(e));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.send();
    });
  }

  url(path) {
    return new URL(path, new URL(this.#host.src, document.baseURI));
  }

  say(text) {
    this.#el.status.textContent = text;
  }

  async search() {
    const q = this.#el.query.value.trim();
    if (this.#searching) this.#searching.abort();
    if (q.length < MIN_QUERY) return this.show([]);
    const searching = (this.#searching = new AbortController());
    try {
      const url = this.url('search');
      url.searchParams.set('q', q.slice(0, 100));
      const res = await this.#host.fetch(url, { headers: { Accept: 'application/json' }, signal: searching.signal });
      if (!res.ok) {
        const f = await failure(res);
        this.show([]);
        return this.say(
          (SEARCH_PROBLEM[f.code] || (() => 'Search is not available right now. Try again in a minute.'))(f),
        );
      }
      const tracks = (await res.json()).tracks || [];
      if (searching !== this.#searching) return;
      this.show(tracks);
      this.say(tracks.length ? `${tracks.length} song${tracks.length === 1 ? '' : 's'} found.` : 'No songs found.');
    } catch (e) {
      if (e.name !== 'AbortError') this.say('Search is not available right now. Try again in a minute.');
    }
  }

  show(tracks) {
    const { list, query } = this.#el;
    this.#tracks = tracks;
    this.#active = -1;
    query.removeAttribute('aria-activedescendant');
    query.setAttribute('aria-expanded', String(tracks.length > 0));
    list.replaceChildren(
      ...tracks.map((t, i) => {
        const li = document.createElement('li');
        li.id = `sg-o${i}`;
        li.setAttribute('role', 'option');
        li.setAttribute('aria-selected', String(this.#chosen?.id === t.id));
        li.setAttribute('aria-label', `${t.name} by ${(t.artists || []).map((a) => a.name).join(', ')}`);
        li.append(this.art(t), this.text(t));
        li.addEventListener('mousedown', (e) => e.preventDefault());
        li.addEventListener('click', () => this.choose(i));
        return li;
      }),
    );
  }

  art(t) {
    const img = document.createElement('img');
    img.alt = '';
    const images = t.images || [];
    const image = images.filter((i) => !i.width || i.width >= 64).pop() || images[0];
    if (image) img.src = image.url;
    return img;
  }

  text(t) {
    const box = document.createElement('div');
    box.className = 'sg-t';
    const name = document.createElement('b');
    name.textContent = t.name;
    const by = document.createElement('span');
    by.textContent = (t.artists || []).map((a) => a.name).join(', ');
    box.append(name, by);
    return box;
  }

  key(e) {
    const n = this.#tracks.length;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      if (!n) return;
      e.preventDefault();
      this.highlight(e.key === 'ArrowDown' ? Math.min(n - 1, this.#active + 1) : Math.max(0, this.#active - 1));
    } else if (e.key === 'Enter') {
      e.preventDefault();
      if (this.#active >= 0) this.choose(this.#active);
    }
  }

  highlight(i) {
    this.#active = i;
    [...this.#el.list.children].forEach((li, j) => li.classList.toggle('active', j === i));
    const li = this.#el.list.children[i];
    this.#el.query.setAttribute('aria-activedescendant', li.id);
    li.scrollIntoView({ block: 'nearest' });
  }

  choose(i) {
    const t = this.#tracks[i];
    this.#chosen = t;
    [...this.#el.list.children].forEach((li, j) => li.setAttribute('aria-selected', String(j === i)));
    const { pick, send } = this.#el;
    pick.querySelector('img').replaceWith(this.art(t));
    pick.querySelector('b').textContent = t.name;
    pick.querySelector('span').textContent = (t.artists || []).map((a) => a.name).join(', ');
    const link = pick.querySelector('a');
    link.hidden = !t.url;
    if (/^https:\/\//i.test(t.url || '')) link.href = t.url; // never a javascript: link
    pick.hidden = false;
    send.disabled = false;
    this.say(`Chosen: ${t.name}. Add your name and a message if you like, then send.`);
    this.proving();
  }

  /** Starts solving a challenge while the visitor writes; a fresh one when this one is old. */
  proving() {
    if (!this.#proof || Date.now() - this.#proof.at > PROOF_LIFE_MS) {
      const value = this.challenge();
      value.catch(() => {}); // a failure is reported when the visitor sends
      this.#proof = { at: Date.now(), value };
    }
    return this.#proof.value;
  }

  async challenge() {
    const res = await this.#host.fetch(this.url('suggestions/challenge'), { headers: { Accept: 'application/json' } });
    if (!res.ok) throw await failure(res);
    const c = await res.json();
    if (!c.algorithm) return null;
    const number = c.algorithm === 'SHA-256' ? await prove(c.challenge, c.salt, c.maxnumber) : null;
    if (number == null) throw new ServiceError('proof_required');
    return btoa(
      JSON.stringify({ algorithm: c.algorithm, challenge: c.challenge, number, salt: c.salt, signature: c.signature }),
    );
  }

  async send(retried = false) {
    const t = this.#chosen;
    if (!t) return;
    const { send, name, message, trap } = this.#el;
    send.disabled = true;
    this.say('Sending…');
    let outcome;
    try {
      const altcha = await this.proving();
      this.#proof = null;
      const body = { track: t.id };
      const clean = (v) => v.replace(/\s+/g, ' ').trim();
      if (clean(name.value)) body.name = clean(name.value);
      if (clean(message.value)) body.message = clean(message.value);
      if (trap.value) body.website = trap.value;
      if (altcha) body.altcha = altcha;
      const res = await this.#host.fetch(this.url('suggestions'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(body),
      });
      outcome = res.ok ? { code: (await res.json()).suggestion.status } : await failure(res);
    } catch (e) {
      this.#proof = null;
      outcome = e && e.code ? e : { code: 'unreachable' };
    }
    if (outcome.code === 'proof_required' && !retried) return this.send(true);
    const text = (SEND_OUTCOME[outcome.code] || (() => 'Not sent: the server did not answer. Try again in a minute.'))(
      t,
      outcome,
    );
    this.say(text);
    this.#host.dispatchEvent(
      new CustomEvent('suggestion', { bubbles: true, composed: true, detail: { outcome: outcome.code, track: t.id } }),
    );
    if (outcome.code === 'added' || outcome.code === 'pending' || outcome.code === 'already_suggested') {
      this.#chosen = null;
      this.#el.pick.hidden = true;
      this.#el.message.value = '';
      [...this.#el.list.children].forEach((li) => li.setAttribute('aria-selected', 'false'));
    } else {
      send.disabled = false;
    }
  }
}

/** Adds the button and its dialog to a <now-playing> element, once. */
export function attach(host) {
  if (!host.suggestDialog) host.suggestDialog = new Suggest(host);
  return host.suggestDialog;
}
