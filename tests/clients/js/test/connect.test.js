// CONNECT / CONNECTED: protocol version and heart-beat negotiation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, disconnect, within } from '../lib.js';

test('connects with STOMP 1.2', async () => {
  const { client, connected } = await connect();
  try {
    assert.equal(client.connectedVersion, '1.2', 'negotiated version');
    assert.equal(connected.headers.version, '1.2', 'CONNECTED version header');
    assert.ok(client.connected, 'client reports connected');
  } finally {
    await disconnect(client);
  }
});

test('negotiates heart-beats and the server sends them', async () => {
  let pongs = 0;
  let pongSeen;
  const twoPongs = new Promise((resolve) => (pongSeen = resolve));
  const debug = (line) => {
    if (line.includes('<<< PONG') && ++pongs >= 2) pongSeen();
  };
  // The client asks to receive a heart-beat every 500 ms and offers one every 500 ms.
  const { client, connected } = await connect({ heartbeat: [500, 500], debug });
  try {
    const hb = connected.headers['heart-beat'];
    assert.match(hb ?? '', /^\d+,\d+$/, `CONNECTED heart-beat header is "sx,sy", got ${hb}`);
    const [sx, sy] = hb.split(',').map(Number);
    assert.ok(sx > 0, `server offers to send heart-beats (heart-beat: ${hb})`);
    assert.ok(sy > 0, `server wants heart-beats from the client (heart-beat: ${hb})`);
    // stompjs drops the connection if nothing arrives for 2x the negotiated interval, so two
    // heart-beats in a row with the connection still up proves the server keeps the beat.
    const interval = Math.max(sx, 500);
    await within(interval * 4 + 2000, 'two heart-beats from the server', twoPongs);
    assert.ok(client.connected, 'still connected after heart-beats');
  } finally {
    await disconnect(client);
  }
});
