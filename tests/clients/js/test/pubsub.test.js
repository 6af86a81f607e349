// SUBSCRIBE / SEND straight to the broker (/topic), headers, unicode and binary bodies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FLAVOR, connect, disconnect, inbox, publish, subscribe, unique } from '../lib.js';

test('a topic message reaches every subscriber with its headers', async () => {
  const topic = `/topic/${unique('js.pubsub.')}`;
  const { client: a } = await connect();
  const { client: b } = await connect();
  try {
    const inA = inbox();
    const inB = inbox();
    await subscribe(a, topic, inA.push);
    await subscribe(b, topic, inB.push);
    const body = 'héllo wörld ✓ — STOMP';
    await publish(b, {
      destination: topic,
      body,
      headers: { 'content-type': 'text/plain;charset=utf-8', 'x-note': 'a:b' },
    });
    for (const [name, box] of [['a', inA], ['b', inB]]) {
      const [m] = await box.waitFor(1, `message on ${topic} at subscriber ${name}`);
      assert.equal(m.body, body, `body at ${name}`);
      assert.equal(m.headers.destination, topic, `destination header at ${name}`);
      assert.equal(m.headers['x-note'], 'a:b', `user header (escaped ':') at ${name}`);
      assert.ok(m.headers['message-id'], `message-id at ${name}`);
      assert.ok(m.headers.subscription, `subscription at ${name}`);
    }
  } finally {
    await disconnect(a);
    await disconnect(b);
  }
});

// RabbitMQ 3.10 Web-STOMP closes the socket on a binary WebSocket frame, so this one is ours only.
const BINARY_SKIP = FLAVOR === 'rabbitmq' ? 'RabbitMQ Web-STOMP closes the socket on binary WebSocket frames' : false;

test('a binary body with NUL and non-UTF-8 bytes arrives intact', { skip: BINARY_SKIP }, async () => {
  const topic = `/topic/${unique('js.binary.')}`;
  const { client } = await connect();
  try {
    const box = inbox();
    await subscribe(client, topic, box.push);
    const bytes = new Uint8Array(512);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) % 256;
    await publish(client, {
      destination: topic,
      binaryBody: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    const [m] = await box.waitFor(1, 'binary message');
    assert.equal(m.headers['content-type'], 'application/octet-stream');
    assert.deepEqual(Array.from(m.binaryBody), Array.from(bytes), 'binary body round-trips');
  } finally {
    await disconnect(client);
  }
});

test('messages arrive in the order they were sent', async () => {
  const topic = `/topic/${unique('js.order.')}`;
  const { client } = await connect();
  try {
    const box = inbox();
    await subscribe(client, topic, box.push);
    const n = 50;
    for (let i = 0; i < n; i++) client.publish({ destination: topic, body: String(i) });
    const got = await box.waitFor(n, `${n} messages`);
    assert.deepEqual(got.map((m) => m.body), Array.from({ length: n }, (_, i) => String(i)));
  } finally {
    await disconnect(client);
  }
});
