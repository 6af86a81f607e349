// The chat example's application destinations: /app message handlers, a subscribe-mapping
// answer, and presence events on a topic. Needs the chat server (STOMP_FLAVOR=stomp-axum).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NEEDS_OURS, connect, disconnect, inbox, publish, receipt, subscribe, unique } from '../lib.js';

test('SEND /app/chat/{room} is broadcast on /topic/chat.{room} with the sender name', { skip: NEEDS_OURS }, async () => {
  const room = unique('room');
  const alice = unique('alice');
  const { client: a } = await connect({ login: alice });
  const { client: b } = await connect();
  try {
    const box = inbox();
    await subscribe(b, `/topic/chat.${room}`, box.push);
    await publish(a, {
      destination: `/app/chat/${room}`,
      body: JSON.stringify({ text: 'hello room' }),
      headers: { 'content-type': 'application/json' },
    });
    const [m] = await box.waitFor(1, 'the chat message on the room topic');
    assert.match(m.headers['content-type'] ?? '', /^application\/json/);
    const msg = JSON.parse(m.body);
    assert.equal(msg.text, 'hello room');
    assert.equal(msg.from, alice, 'from is the CONNECT login, set by the server');
    assert.equal(msg.room, room);
  } finally {
    await disconnect(a);
    await disconnect(b);
  }
});

test('SEND of invalid JSON: the error arrives on /user/queue/errors, the session stays open, the next SEND works', { skip: NEEDS_OURS }, async () => {
  const room = unique('room');
  const { client } = await connect();
  let closed = false;
  const stompErrors = [];
  client.onStompError = (frame) => stompErrors.push(frame);
  client.onWebSocketClose = () => { closed = true; };
  try {
    const errors = inbox();
    const chat = inbox();
    await subscribe(client, '/user/queue/errors', errors.push);
    await subscribe(client, `/topic/chat.${room}`, chat.push);

    // The bad SEND asks for a receipt: the RECEIPT still comes, after the error report.
    const id = unique('bad-');
    const r = receipt(client, id);
    client.publish({
      destination: `/app/chat/${room}`,
      body: '{not json',
      headers: { 'content-type': 'application/json', receipt: id, 'correlation-id': 'corr-1' },
    });
    const [report] = await errors.waitFor(1, 'the error on /user/queue/errors');
    assert.equal(report.headers.message, 'invalid payload');
    assert.equal(report.headers['receipt-id'], id, 'the report names the failing frame\'s receipt');
    assert.equal(report.headers['correlation-id'], 'corr-1');
    assert.match(report.body, /could not read the JSON payload/);
    await r;

    // Still the same connection: no ERROR frame, no close, and the next SEND works.
    await publish(client, {
      destination: `/app/chat/${room}`,
      body: JSON.stringify({ text: 'after the error' }),
      headers: { 'content-type': 'application/json' },
    });
    const [m] = await chat.waitFor(1, 'the next chat message');
    assert.equal(JSON.parse(m.body).text, 'after the error');
    // A SEND to an unmapped /app destination is reported the same way.
    await publish(client, { destination: `/app/nowhere/${room}`, body: 'x' });
    const reports = await errors.waitFor(2, 'the unmapped-destination report');
    assert.equal(reports[1].headers.message, 'no handler for destination');
    // A payload that fails validation (Valid<Payload<PrivateInput>>: `to` is required).
    await publish(client, {
      destination: '/app/private',
      body: JSON.stringify({ to: '', text: 'hello?' }),
      headers: { 'content-type': 'application/json' },
    });
    const all = await errors.waitFor(3, 'the validation report');
    assert.equal(all[2].headers.message, 'validation failed');
    assert.match(all[2].body, /to: /);
    assert.equal(stompErrors.length, 0, `no ERROR frame: ${stompErrors.map((f) => f.headers.message)}`);
    assert.equal(closed, false, 'the socket stayed open');
    assert.ok(client.connected, 'still connected');
  } finally {
    await disconnect(client);
  }
});

test('SUBSCRIBE /app/online answers with who is online; /topic/presence tracks joins and leaves', { skip: NEEDS_OURS }, async () => {
  const watcherName = unique('watcher');
  const { client: watcher } = await connect({ login: watcherName });
  try {
    const online = inbox();
    await subscribe(watcher, '/app/online', online.push);
    const [answer] = await online.waitFor(1, 'the subscribe-mapping answer');
    const names = JSON.parse(answer.body).map((u) => (typeof u === 'string' ? u : u.name));
    assert.ok(names.includes(watcherName), `online list ${JSON.stringify(names)} includes ${watcherName}`);

    const presence = inbox();
    await subscribe(watcher, '/topic/presence', presence.push);
    const bobName = unique('bob');
    const { client: bob } = await connect({ login: bobName });
    await presence.until((m) => { const e = JSON.parse(m.body); return e.user === bobName && e.online === true; }, `${bobName} online`);
    await disconnect(bob);
    await presence.until((m) => { const e = JSON.parse(m.body); return e.user === bobName && e.online === false; }, `${bobName} offline`);
  } finally {
    await disconnect(watcher);
  }
});
