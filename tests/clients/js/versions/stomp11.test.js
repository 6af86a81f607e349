// @stomp/stompjs restricted to STOMP 1.1 (`stompVersions`): it offers only the `v11.stomp`
// subprotocol and `accept-version: 1.1`, and acknowledges by `message-id` + `subscription`.
// Subscribe with a chosen and a generated id, unsubscribe, ACK/NACK in client and
// client-individual modes, transactions with SEND and ACK.
//
// Run: STOMP_WS_URL=ws://127.0.0.1:8080/ws node --test versions/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Versions } from '@stomp/stompjs';
import WebSocket from 'ws';
import { WS_URL, disconnect, inbox, publish, receipt, subscribe, unique, within } from '../lib.js';

/** A stompjs client that speaks STOMP 1.1 only; resolves once CONNECTED arrives. */
function connect11() {
  const client = new Client({
    stompVersions: new Versions(['1.1']),
    connectHeaders: { login: unique('js11-'), passcode: 'secret' },
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    debug: () => {},
  });
  client.webSocketFactory = () => new WebSocket(WS_URL, client.stompVersions.protocolVersions());
  client.errors = [];
  const connected = new Promise((resolve, reject) => {
    client.onConnect = (frame) => resolve({ client, connected: frame });
    client.onStompError = (frame) => {
      client.errors.push(frame);
      reject(new Error(`ERROR frame: ${frame.headers.message ?? ''} ${frame.body}`));
    };
    client.onWebSocketClose = (ev) => reject(new Error(`socket closed before CONNECTED (code ${ev?.code})`));
  });
  client.activate();
  return within(5000, `CONNECTED from ${WS_URL}`, connected).catch(async (e) => {
    await client.deactivate();
    throw e;
  });
}

/** ACK (or NACK) with a receipt and wait for it, so it has taken effect. */
async function settle(client, message, how = 'ack', headers = {}) {
  const id = unique(`${how}-r-`);
  const r = receipt(client, id);
  message[how]({ ...headers, receipt: id });
  await r;
}

/** Sends a transaction frame followed by a receipted SEND to a sync topic (frames apply in order). */
async function sync(client) {
  await publish(client, { destination: `/topic/${unique('js11.sync.')}`, body: 'sync' });
}

test('connects as 1.1 over v11.stomp', async () => {
  const { client, connected } = await connect11();
  try {
    assert.equal(connected.headers.version, '1.1');
    assert.equal(client.connectedVersion, '1.1');
    assert.equal(client.webSocket.protocol, 'v11.stomp');
  } finally {
    await disconnect(client);
  }
});

test('subscribe with a chosen and a generated id; unsubscribe by id', async () => {
  const topic = `/topic/${unique('js11.sub.')}`;
  const { client } = await connect11();
  try {
    const chosen = inbox();
    const generated = inbox();
    const a = await subscribe(client, topic, chosen.push, { id: 'my-id' });
    const b = await subscribe(client, topic, generated.push);
    assert.equal(a.id, 'my-id');
    await publish(client, { destination: topic, body: 'both' });
    const [m] = await chosen.waitFor(1, 'message on the chosen id');
    assert.equal(m.headers.subscription, 'my-id');
    await generated.waitFor(1, 'message on the generated id');
    const r = unique('unsub-r-');
    const done = receipt(client, r);
    b.unsubscribe({ receipt: r });
    await done;
    await publish(client, { destination: topic, body: 'one' });
    await chosen.until((x) => x.body === 'one', 'second message');
    assert.deepEqual(generated.items.map((x) => x.body), ['both']);
  } finally {
    await disconnect(client);
  }
});

test('client-individual: ACK and NACK by message-id + subscription', async () => {
  const queue = `/queue/${unique('js11.ci.')}`;
  const { client } = await connect11();
  try {
    const box = inbox();
    await subscribe(client, queue, box.push, { ack: 'client-individual' });
    for (const body of ['m1', 'm2', 'm3']) await publish(client, { destination: queue, body });
    const got = await box.waitFor(3, 'three deliveries');
    assert.deepEqual(got.map((m) => m.body), ['m1', 'm2', 'm3']);
    assert.equal(new Set(got.map((m) => m.headers['message-id'])).size, 3);
    for (const m of got) assert.equal(m.headers.ack, undefined, '1.1 has no ack header');
    await settle(client, got[0]);
    await settle(client, got[1], 'nack');
    const again = await box.waitFor(4, 'the NACKed message again');
    assert.equal(again[3].body, 'm2');
    await settle(client, again[3]);
    await settle(client, got[2]);
    await publish(client, { destination: queue, body: 'marker' });
    const marker = await box.until((m) => m.body === 'marker', 'the marker');
    assert.deepEqual(box.items.map((m) => m.body), ['m1', 'm2', 'm3', 'm2', 'marker']);
    await settle(client, marker);
    assert.deepEqual(client.errors, []);
  } finally {
    await disconnect(client);
  }
});

test('client: ACK is cumulative; the un-acked rest goes to the next consumer', async () => {
  const queue = `/queue/${unique('js11.c.')}`;
  const { client: first } = await connect11();
  const box = inbox();
  await subscribe(first, queue, box.push, { ack: 'client' });
  for (const body of ['m1', 'm2', 'm3']) await publish(first, { destination: queue, body });
  const got = await box.waitFor(3, 'three deliveries');
  await settle(first, got[1]); // m1 and m2
  await disconnect(first);

  const { client: second } = await connect11();
  try {
    const next = inbox();
    await subscribe(second, queue, next.push);
    await next.until((m) => m.body === 'm3', 'm3 at the next consumer');
    await publish(second, { destination: queue, body: 'end' });
    await next.until((m) => m.body === 'end', 'the end marker');
    assert.deepEqual(next.items.map((m) => m.body), ['m3', 'end']);
  } finally {
    await disconnect(second);
  }
});

test('transactions: SEND and ACK take effect on commit, not on abort', async () => {
  const queue = `/queue/${unique('js11.tx.')}`;
  const { client } = await connect11();
  const box = inbox();
  await subscribe(client, queue, box.push, { ack: 'client-individual' });
  const t1 = client.begin();
  client.publish({ destination: queue, body: 'committed', headers: { transaction: t1.id } });
  const t2 = client.begin();
  client.publish({ destination: queue, body: 'aborted', headers: { transaction: t2.id } });
  t2.abort();
  await sync(client);
  assert.deepEqual(box.items, []);
  t1.commit();
  const [m] = await box.waitFor(1, 'the committed message');
  assert.equal(m.body, 'committed');

  // An ACK in an aborted transaction does not count: a plain ACK afterwards is accepted.
  const t3 = client.begin();
  m.ack({ transaction: t3.id });
  t3.abort();
  await settle(client, m);

  await publish(client, { destination: queue, body: 'second' });
  const second = await box.until((x) => x.body === 'second', 'second');
  const t4 = client.begin();
  second.ack({ transaction: t4.id });
  t4.commit();
  await sync(client);
  assert.deepEqual(client.errors, []);
  await disconnect(client);

  const { client: other } = await connect11();
  try {
    const after = inbox();
    await subscribe(other, queue, after.push);
    await publish(other, { destination: queue, body: 'end' });
    await after.until((x) => x.body === 'end', 'the end marker');
    assert.deepEqual(after.items.map((x) => x.body), ['end'], 'nothing aborted or acked comes back');
  } finally {
    await disconnect(other);
  }
});
