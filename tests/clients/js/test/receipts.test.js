// RECEIPT for SUBSCRIBE, SEND, UNSUBSCRIBE and DISCONNECT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, disconnect, inbox, receipt, unique, within } from '../lib.js';

test('receipts arrive for SUBSCRIBE, SEND and UNSUBSCRIBE, in order', async () => {
  const topic = `/topic/${unique('js.receipt.')}`;
  const { client } = await connect();
  try {
    const kept = inbox();
    const dropped = inbox();
    const r1 = receipt(client, 'r-sub-1');
    client.subscribe(topic, kept.push, { receipt: 'r-sub-1' });
    const r2 = receipt(client, 'r-sub-2');
    const sub2 = client.subscribe(topic, dropped.push, { receipt: 'r-sub-2' });
    const frames = await Promise.all([r1, r2]);
    assert.deepEqual(frames.map((f) => f.headers['receipt-id']), ['r-sub-1', 'r-sub-2']);

    const r3 = receipt(client, 'r-unsub');
    sub2.unsubscribe({ receipt: 'r-unsub' });
    await r3;

    const r4 = receipt(client, 'r-send');
    client.publish({ destination: topic, body: 'after-unsubscribe', headers: { receipt: 'r-send' } });
    await r4;
    const [m] = await kept.waitFor(1, 'the message on the remaining subscription');
    assert.equal(m.body, 'after-unsubscribe');
    assert.equal(dropped.items.length, 0, 'no delivery to the unsubscribed subscription');
  } finally {
    await disconnect(client);
  }
});

test('DISCONNECT with a receipt closes cleanly', async () => {
  const { client } = await connect();
  let closed;
  const socketClosed = new Promise((resolve) => (closed = resolve));
  client.onWebSocketClose = () => closed();
  // deactivate() sends DISCONNECT with a receipt and waits for it before closing the socket.
  await disconnect(client);
  await within(5000, 'the socket to close after DISCONNECT', socketClosed);
  assert.equal(client.connected, false);
  assert.equal(client.errors.length, 0, 'no ERROR frame');
});

test('a bad frame gets an ERROR frame, not a hang', async () => {
  const { client } = await connect();
  let gotError;
  const error = new Promise((resolve) => (gotError = resolve));
  client.onStompError = (frame) => gotError(frame);
  try {
    // ACK for an id that was never delivered.
    client.ack('no-such-message-id', 'no-such-subscription');
    const frame = await within(5000, 'ERROR frame for an unknown ack id', error);
    assert.equal(frame.command, 'ERROR');
  } finally {
    await client.deactivate();
  }
});
