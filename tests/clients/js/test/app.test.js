// The chat example's application destinations: /app message handlers, a subscribe-mapping
// answer, and presence events on a topic. Needs the chat server (STOMP_FLAVOR=stomp-axum).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NEEDS_OURS, connect, disconnect, inbox, publish, subscribe, unique, within } from '../lib.js';

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

test('SEND with a bad JSON payload is reported to the sender, not dropped', { skip: NEEDS_OURS }, async () => {
  const { client } = await connect();
  let gotError;
  const error = new Promise((resolve) => (gotError = resolve));
  client.onStompError = (frame) => gotError(`ERROR frame: ${frame.headers.message}`);
  try {
    // Either answer is fine: an ERROR frame, or a message on the user's error queue.
    await subscribe(client, '/user/queue/errors', (m) => gotError(`on /user/queue/errors: ${m.body}`));
    client.publish({ destination: '/app/chat/lobby', body: '{not json', headers: { 'content-type': 'application/json' } });
    const what = await within(5000, 'an error report for a bad payload', error);
    assert.ok(what.length > 0, what);
  } finally {
    await client.deactivate();
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
