// Shared helpers for the @stomp/stompjs client tests: connecting over the `ws` package,
// bounded waits, and message inboxes.
//
// Configuration (environment):
//   STOMP_WS_URL   ws://host:port/path of the STOMP endpoint (or pass it as an argument)
//   STOMP_FLAVOR   "stomp-axum" (default): the chat example's server, with /app handlers
//                  and /user destinations; "rabbitmq": RabbitMQ Web-STOMP, whose tests skip
//                  /app and /user and log in as guest/guest.
import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';

export const WS_URL =
  process.env.STOMP_WS_URL ?? process.argv.find((a) => /^wss?:\/\//.test(a));
if (!WS_URL) {
  console.error('error: no server URL: set STOMP_WS_URL=ws://127.0.0.1:8080/ws or pass it as an argument');
  process.exit(2);
}
export const FLAVOR = process.env.STOMP_FLAVOR ?? 'stomp-axum';
/** True when the server is ours (has the chat's /app handlers and /user destinations). */
export const OURS = FLAVOR !== 'rabbitmq';
/** Reason to skip a test that needs our /app handlers or /user destinations. */
export const NEEDS_OURS = OURS ? false : `needs the chat server's /app and /user (flavor ${FLAVOR})`;

/** A short random suffix so runs never share destinations. */
export function unique(prefix) {
  return `${prefix}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

/** Rejects with `what` when `promise` has not settled within `ms`. */
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Connects a stompjs Client. Resolves { client, connected } once CONNECTED arrives; rejects on
 * an ERROR frame, a closed socket or a timeout.
 */
export function connect({ login = unique('js-'), heartbeat = [0, 0], debug } = {}) {
  const connectHeaders = OURS
    ? { login, passcode: 'secret' }
    : { login: process.env.STOMP_LOGIN ?? 'guest', passcode: process.env.STOMP_PASSCODE ?? 'guest' };
  const client = new Client({
    webSocketFactory: () => new WebSocket(WS_URL, ['v12.stomp', 'v11.stomp', 'v10.stomp']),
    connectHeaders,
    reconnectDelay: 0,
    heartbeatIncoming: heartbeat[0],
    heartbeatOutgoing: heartbeat[1],
    debug: debug ?? (() => {}),
  });
  client.errors = [];
  const connected = new Promise((resolve, reject) => {
    client.onConnect = (frame) => resolve({ client, connected: frame });
    client.onStompError = (frame) => {
      client.errors.push(frame);
      reject(new Error(`ERROR frame: ${frame.headers.message ?? ''} ${frame.body}`));
    };
    client.onWebSocketClose = (ev) => reject(new Error(`socket closed before CONNECTED (code ${ev?.code})`));
    client.onWebSocketError = (ev) => reject(new Error(`socket error: ${ev?.message ?? ev}`));
  });
  client.activate();
  return within(5000, `CONNECTED from ${WS_URL}`, connected).catch(async (e) => {
    await client.deactivate();
    throw e;
  });
}

/** Disconnects (waits for the DISCONNECT receipt, bounded). */
export async function disconnect(client) {
  try {
    await within(5000, 'disconnect', client.deactivate());
  } catch (e) {
    client.forceDisconnect();
    throw e;
  }
}

/** Resolves with the RECEIPT frame for `id`. Register before sending the frame. */
export function receipt(client, id, ms = 5000) {
  return within(ms, `RECEIPT ${id}`, new Promise((resolve) => client.watchForReceipt(id, resolve)));
}

/** A queue of received messages: pass `inbox.push` as a subscription callback. */
export function inbox() {
  const items = [];
  const waiters = [];
  return {
    items,
    push: (message) => {
      items.push(message);
      // Each waiter re-registers itself if still unsatisfied, so run the current set only.
      for (const waiter of waiters.splice(0)) waiter();
    },
    /** Waits until `count` messages have arrived; resolves with all of them. */
    async waitFor(count, what = `${count} message(s)`, ms = 5000) {
      await within(ms, what, new Promise((resolve) => {
        const check = () => (items.length >= count ? resolve() : waiters.push(check));
        check();
      }));
      return items.slice();
    },
    /** Waits until a message satisfying `pred` has arrived; resolves with it. */
    async until(pred, what, ms = 5000) {
      let found;
      await within(ms, what, new Promise((resolve) => {
        const check = () => ((found = items.find(pred)) ? resolve() : waiters.push(check));
        check();
      }));
      return found;
    },
  };
}

/** Subscribes and waits for the server's receipt, so the subscription is live. */
export async function subscribe(client, destination, callback, headers = {}) {
  const id = unique('sub-r-');
  const r = receipt(client, id);
  const sub = client.subscribe(destination, callback, { ...headers, receipt: id });
  await r;
  return sub;
}

/** Publishes and waits for the server's receipt. */
export async function publish(client, params) {
  const id = unique('pub-r-');
  const r = receipt(client, id);
  client.publish({ ...params, headers: { ...(params.headers ?? {}), receipt: id } });
  await r;
}
