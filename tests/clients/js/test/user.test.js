// User destinations: /user/queue/... reaches every session of one user, and only that user.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NEEDS_OURS, connect, disconnect, inbox, publish, subscribe, unique } from '../lib.js';

test('a private message reaches the named user on /user/queue/inbox, with a copy to the sender on /user/queue/private', { skip: NEEDS_OURS }, async () => {
  const aliceName = unique('alice');
  const bobName = unique('bob');
  const { client: alice } = await connect({ login: aliceName });
  const { client: bob } = await connect({ login: bobName });
  const { client: eve } = await connect({ login: unique('eve') });
  try {
    const toAlice = inbox();
    const toBob = inbox();
    const toEve = inbox();
    await subscribe(alice, '/user/queue/inbox', toAlice.push);
    await subscribe(bob, '/user/queue/private', toBob.push);
    await subscribe(eve, '/user/queue/inbox', toEve.push);
    await publish(bob, {
      destination: '/app/private',
      body: JSON.stringify({ to: aliceName, text: 'psst' }),
      headers: { 'content-type': 'application/json' },
    });
    const [m] = await toAlice.waitFor(1, 'the private message at alice');
    const msg = JSON.parse(m.body);
    assert.equal(msg.from, bobName);
    assert.equal(msg.to, aliceName);
    assert.equal(msg.text, 'psst');
    const [copy] = await toBob.waitFor(1, "the sender's copy at bob");
    assert.equal(JSON.parse(copy.body).text, 'psst');
    // eve must not get it: a message to eve sent afterwards arrives first.
    await publish(bob, { destination: `/app/private`, body: JSON.stringify({ to: eve.connectHeaders.login, text: 'for eve' }), headers: { 'content-type': 'application/json' } });
    const [forEve] = await toEve.waitFor(1, 'the message for eve');
    assert.equal(JSON.parse(forEve.body).text, 'for eve', 'eve did not receive the message for alice');
  } finally {
    await disconnect(alice);
    await disconnect(bob);
    await disconnect(eve);
  }
});

test('SEND to /user/{name}/queue/x reaches every session of that user', { skip: NEEDS_OURS }, async () => {
  const name = unique('carol');
  const queue = unique('js.direct.');
  const { client: c1 } = await connect({ login: name });
  const { client: c2 } = await connect({ login: name });
  const { client: sender } = await connect();
  try {
    const in1 = inbox();
    const in2 = inbox();
    await subscribe(c1, `/user/queue/${queue}`, in1.push);
    await subscribe(c2, `/user/queue/${queue}`, in2.push);
    await publish(sender, { destination: `/user/${name}/queue/${queue}`, body: 'to all of carol' });
    assert.equal((await in1.waitFor(1, 'delivery to session 1'))[0].body, 'to all of carol');
    assert.equal((await in2.waitFor(1, 'delivery to session 2'))[0].body, 'to all of carol');
  } finally {
    await disconnect(c1);
    await disconnect(c2);
    await disconnect(sender);
  }
});
