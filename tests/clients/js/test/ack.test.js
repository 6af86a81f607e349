// Ack modes on a point-to-point /queue destination: client-individual (ACK/NACK, redelivery)
// and client (cumulative ACK; un-acked messages go to the next consumer).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, disconnect, inbox, publish, subscribe, unique } from '../lib.js';

test('client-individual: NACK redelivers exactly that message, ACK settles', async () => {
  const queue = `/queue/${unique('js.ack.ci.')}`;
  const { client } = await connect();
  try {
    const box = inbox();
    await subscribe(client, queue, box.push, { ack: 'client-individual' });
    for (const body of ['m1', 'm2', 'm3']) await publish(client, { destination: queue, body });
    const first = await box.waitFor(3, 'three deliveries');
    assert.deepEqual(first.map((m) => m.body), ['m1', 'm2', 'm3']);
    for (const m of first) assert.ok(m.headers.ack, `MESSAGE ${m.body} carries an ack header`);

    first[0].ack();
    first[1].nack();
    first[2].ack();
    const again = await box.waitFor(4, 'the NACKed message to be redelivered');
    assert.equal(again[3].body, 'm2', 'the redelivered message is the NACKed one');
    again[3].ack();

    // Nothing else is pending: the next message after a marker is the marker itself.
    await publish(client, { destination: queue, body: 'marker' });
    const all = await box.until((m) => m.body === 'marker', 'the marker');
    assert.deepEqual(box.items.map((m) => m.body), ['m1', 'm2', 'm3', 'm2', 'marker']);
    all.ack();
  } finally {
    await disconnect(client);
  }
});

test('client: ACK is cumulative; un-acked messages go to the next consumer', async () => {
  const queue = `/queue/${unique('js.ack.c.')}`;
  const { client: first } = await connect();
  const box = inbox();
  await subscribe(first, queue, box.push, { ack: 'client' });
  for (const body of ['m1', 'm2', 'm3']) await publish(first, { destination: queue, body });
  const got = await box.waitFor(3, 'three deliveries');
  assert.deepEqual(got.map((m) => m.body), ['m1', 'm2', 'm3']);
  got[1].ack(); // acknowledges m1 and m2, not m3
  await publish(first, { destination: '/topic/js.sync', body: 'sync' }); // the ACK was processed
  await disconnect(first); // m3 is still un-acked

  const { client: second } = await connect();
  try {
    const next = inbox();
    await subscribe(second, queue, next.push);
    await next.until((m) => m.body === 'm3', 'm3 redelivered to the next consumer');
    await publish(second, { destination: queue, body: 'end' });
    await next.until((m) => m.body === 'end', 'the end marker');
    const bodies = next.items.map((m) => m.body);
    assert.ok(!bodies.includes('m1') && !bodies.includes('m2'), `acked messages not redelivered: ${bodies}`);
  } finally {
    await disconnect(second);
  }
});

test('a queue message goes to one consumer, not all', async () => {
  const queue = `/queue/${unique('js.p2p.')}`;
  const { client: a } = await connect();
  const { client: b } = await connect();
  try {
    const inA = inbox();
    const inB = inbox();
    await subscribe(a, queue, inA.push);
    await subscribe(b, queue, inB.push);
    const n = 10;
    for (let i = 0; i < n; i++) await publish(a, { destination: queue, body: `q${i}` });
    const deadline = Date.now() + 5000;
    while (inA.items.length + inB.items.length < n && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const bodies = [...inA.items, ...inB.items].map((m) => m.body).sort();
    assert.deepEqual(bodies, Array.from({ length: n }, (_, i) => `q${i}`).sort(), 'each message delivered exactly once');
  } finally {
    await disconnect(a);
    await disconnect(b);
  }
});
