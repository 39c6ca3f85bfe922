// `live` for <now-playing> and <now-playing-header>: each answer the service pushes is shown
// the moment it arrives, not at the next poll. widget.js imports this module only when the
// attribute is present. It asks /v1/live (beside the element's `src`) where to subscribe,
// connects to AWS AppSync Events with the public key it names, and hands each pushed answer
// to the element. Polling goes on as before; the socket closes while the tab is hidden,
// reconnects with jittered backoff after a drop or a silent minute past the keep-alive, and
// is given up (polling alone) after repeated refusals.

const PROTOCOL = 'aws-appsync-event-ws';
const EVENT = { bubbles: true, composed: true };
const MAX_FAILURES = 6;
/** How often a visible page says it still watches (`/v1/live`): the service runs the live
 *  schedule only while somebody does. */
const PRESENCE = 240e3;

/** base64url without padding, as AppSync's `header-` subprotocol carries it. */
const header = (auth) =>
  'header-' + btoa(JSON.stringify(auth)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

export function attach(el) {
  const offerUrl = () => new URL('live', new URL(el.src, location.href)).href;
  let ws = null;
  let retryTimer = 0;
  let watchdog = 0;
  let failures = 0;
  let closed = false;

  const stop = () => {
    clearTimeout(retryTimer);
    clearTimeout(watchdog);
    if (ws) {
      ws.onclose = ws.onmessage = ws.onerror = null;
      ws.close();
      ws = null;
    }
  };

  /** Tries again later, longer each time; after MAX_FAILURES the element polls alone. */
  const retry = (why) => {
    stop();
    failures++;
    if (closed || failures > MAX_FAILURES) {
      el.dispatchEvent(new CustomEvent('error', { ...EVENT, detail: `live: ${why}; polling instead` }));
      return;
    }
    const wait = Math.min(60e3, 1e3 * 2 ** failures) * (0.5 + Math.random());
    retryTimer = setTimeout(connect, wait);
  };

  async function connect() {
    stop();
    if (closed || document.hidden || !el.isConnected || !el.src) return;
    let offer;
    try {
      const res = await el.fetch(offerUrl(), { headers: { Accept: 'application/json' } });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      offer = await res.json();
    } catch (e) {
      return retry(String((e && e.message) || e));
    }
    if (offer.current) el.show(offer.current);
    // No realtime endpoint in this deployment: polling alone.
    if (offer.transport !== 'appsync-events' || closed) return;
    const auth = { host: offer.host, 'x-api-key': offer.api_key };
    let timeout = 300e3;
    const alive = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => retry('no keep-alive'), timeout);
    };
    ws = new WebSocket(offer.realtime, [PROTOCOL, header(auth)]);
    ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init' }));
    ws.onmessage = (m) => {
      let msg;
      try {
        msg = JSON.parse(m.data);
      } catch {
        return;
      }
      if (msg.type === 'connection_ack') {
        timeout = msg.connectionTimeoutMs || timeout;
        alive();
        const id = crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2);
        ws.send(JSON.stringify({ type: 'subscribe', id, channel: offer.channel, authorization: auth }));
      } else if (msg.type === 'subscribe_success') {
        failures = 0;
        el.dispatchEvent(new Event('live', EVENT));
      } else if (msg.type === 'ka') {
        alive();
      } else if (msg.type === 'data') {
        alive();
        try {
          el.show(JSON.parse(msg.event));
        } catch {
          // An event that is no answer is not shown.
        }
      } else if (msg.type === 'subscribe_error' || msg.type === 'error' || msg.type === 'connection_error') {
        retry(msg.type);
      }
    };
    ws.onclose = () => retry('the connection closed');
  }

  const onVisibility = () => (document.hidden ? stop() : ((failures = 0), connect()));
  document.addEventListener('visibilitychange', onVisibility);
  const present = setInterval(async () => {
    if (document.hidden || closed) return;
    try {
      const res = await el.fetch(offerUrl(), { headers: { Accept: 'application/json' } });
      const offer = res.ok ? await res.json() : null;
      if (offer && offer.current) el.show(offer.current);
    } catch {
      // The next one tries again; the socket and the polls go on meanwhile.
    }
  }, PRESENCE);
  connect();
  return {
    close() {
      closed = true;
      stop();
      clearInterval(present);
      document.removeEventListener('visibilitychange', onVisibility);
    },
  };
}
