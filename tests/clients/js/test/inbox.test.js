// The chat's inbox (/user/queue/inbox, issue 15 item 4): a private message to a user who is
// offline waits for them and reaches their next session; once they are online the next one
// arrives at once; a message they did not acknowledge comes back to their next session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NEEDS_OURS, connect, disconnect, inbox, publish, subscribe, unique } from '../lib.js';

/** Alice sends `text` to `to` through the chat and waits for her own copy: by then the
 * message is in the recipient's inbox. */
async function sendPrivate(alice, copies, to, text) {
  const before = copies.items.length;
  await publish(alice, {
    destination: '/app/private',
    body: JSON.stringify({ to, text }),
    headers: { 'content-type': 'application/json' },
  });
  await copies.waitFor(before + 1, `alice's copy of "${text}"`);
}

test('a private message to an offline user waits in their inbox; online, the next arrives at once', { skip: NEEDS_OURS }, async () => {
  const bobName = unique('bob');
  const { client: alice } = await connect({ login: unique('alice') });
  let bob;
  try {
    const copies = inbox();
    await subscribe(alice, '/user/queue/private', copies.push);
    // bob has never connected.
    await sendPrivate(alice, copies, bobName, 'while you were away');

    ({ client: bob } = await connect({ login: bobName }));
    const box = inbox();
    await subscribe(bob, '/user/queue/inbox', box.push, { ack: 'client-individual' });
    const [waited] = await box.waitFor(1, 'the message that waited');
    assert.equal(waited.headers.destination, '/user/queue/inbox');
    assert.equal(JSON.parse(waited.body).text, 'while you were away');
    waited.ack();

    await sendPrivate(alice, copies, bobName, 'now');
    const [, now] = await box.waitFor(2, 'the message sent while online', 2000);
    assert.equal(JSON.parse(now.body).text, 'now');
    now.ack();
  } finally {
    await disconnect(alice);
    if (bob) await disconnect(bob);
  }
});

test('an inbox message not acknowledged comes back to the next session, marked redelivered', { skip: NEEDS_OURS }, async () => {
  const bobName = unique('bob');
  const { client: alice } = await connect({ login: unique('alice') });
  const { client: bob1 } = await connect({ login: bobName });
  let bob2;
  try {
    const copies = inbox();
    await subscribe(alice, '/user/queue/private', copies.push);
    const first = inbox();
    await subscribe(bob1, '/user/queue/inbox', first.push, { ack: 'client-individual' });
    await sendPrivate(alice, copies, bobName, 'read me twice');
    const [unacked] = await first.waitFor(1, 'the first delivery');
    assert.equal(unacked.headers.redelivered, undefined);
    await disconnect(bob1); // without ACK

    ({ client: bob2 } = await connect({ login: bobName }));
    const again = inbox();
    await subscribe(bob2, '/user/queue/inbox', again.push, { ack: 'client-individual' });
    const [m] = await again.waitFor(1, 'the redelivery');
    assert.equal(JSON.parse(m.body).text, 'read me twice');
    assert.equal(m.headers.redelivered, 'true');
    m.ack();
  } finally {
    await disconnect(alice);
    if (bob2) await disconnect(bob2);
  }
});
