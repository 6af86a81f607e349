// The chat's inbox across a restart of the chat server (`chat --data-dir DIR`), run by
// tests/tests/real_clients.rs in two phases against two server processes on one directory:
//   INBOX_PHASE=before  alice sends bob (offline) a private message; then the server is killed
//   INBOX_PHASE=after   on the restarted server, bob joins and receives it; while he is
//                       online a second message arrives at once
// INBOX_ALICE and INBOX_BOB name the users (the same in both phases).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, disconnect, inbox, publish, subscribe } from '../lib.js';

const PHASE = process.env.INBOX_PHASE;
const ALICE = process.env.INBOX_ALICE;
const BOB = process.env.INBOX_BOB;
if (!['before', 'after'].includes(PHASE) || !ALICE || !BOB) {
  console.error('error: set INBOX_PHASE=before|after, INBOX_ALICE and INBOX_BOB');
  process.exit(2);
}

async function sendPrivate(alice, copies, to, text) {
  const before = copies.items.length;
  await publish(alice, {
    destination: '/app/private',
    body: JSON.stringify({ to, text }),
    headers: { 'content-type': 'application/json' },
  });
  // The copy is sent after the recipient's message is in the inbox (on disk).
  await copies.waitFor(before + 1, `alice's copy of "${text}"`);
}

test(`offline inbox across a chat restart: ${PHASE}`, async () => {
  const { client: alice } = await connect({ login: ALICE });
  let bob;
  try {
    const copies = inbox();
    await subscribe(alice, '/user/queue/private', copies.push);
    if (PHASE === 'before') {
      await sendPrivate(alice, copies, BOB, 'sent before the restart');
      return;
    }
    ({ client: bob } = await connect({ login: BOB }));
    const box = inbox();
    await subscribe(bob, '/user/queue/inbox', box.push, { ack: 'client-individual' });
    const [waited] = await box.waitFor(1, 'the message sent before the restart');
    const message = JSON.parse(waited.body);
    assert.equal(message.text, 'sent before the restart');
    assert.equal(message.from, ALICE);
    assert.equal(waited.headers.destination, '/user/queue/inbox');
    // It may have been delivered before the restart: at-least-once says so.
    assert.equal(waited.headers.redelivered, 'true');
    waited.ack();

    await sendPrivate(alice, copies, BOB, 'after the restart');
    const [, now] = await box.waitFor(2, 'the message sent while bob is online', 2000);
    assert.equal(JSON.parse(now.body).text, 'after the restart');
    now.ack();
  } finally {
    await disconnect(alice);
    if (bob) await disconnect(bob);
  }
});
