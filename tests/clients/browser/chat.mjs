// Two chromium pages use the chat example: pick names, join the same room, talk to each
// other, and one sends the other a private message. Screenshots go to target/e2e/.
//
// Usage: CHAT_URL=http://127.0.0.1:8080/ node chat.mjs   (or: node chat.mjs http://...)
// Env: CHROMIUM (default /usr/bin/chromium), SCREENSHOT_DIR (default <repo>/target/e2e).
// Exits non-zero with a message on failure; every wait is bounded.
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const url = process.env.CHAT_URL ?? process.argv.find((a) => /^https?:\/\//.test(a));
if (!url) {
  console.error('error: set CHAT_URL=http://127.0.0.1:8080/ or pass the URL as an argument');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const shots = process.env.SCREENSHOT_DIR ?? resolve(here, '../../../target/e2e');
const WAIT = 10_000;

// A hard bound on the whole run.
const watchdog = setTimeout(() => {
  console.error('error: browser test timed out after 90 s');
  process.exit(3);
}, 90_000);

const profile = mkdtempSync(join(tmpdir(), 'chat-e2e-'));
mkdirSync(shots, { recursive: true });
const suffix = Math.random().toString(36).slice(2, 6);
const room = `e2e-${suffix}`;
const aliceName = `alice-${suffix}`;
const bobName = `bob-${suffix}`;

let context;
const errors = [];
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    viewport: { width: 1100, height: 720 },
  });
  const alice = context.pages()[0] ?? (await context.newPage());
  const bob = await context.newPage();
  for (const [who, page] of [['alice', alice], ['bob', bob]]) {
    page.on('pageerror', (e) => errors.push(`${who}: page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(`${who}: console: ${m.text()}`); });
    page.setDefaultTimeout(WAIT);
  }

  const enter = async (page, name) => {
    await page.goto(url);
    await page.fill('#name', name);
    await page.fill('#room', room);
    await page.click('#join');
    await page.waitForSelector('#status[data-state="online"]');
  };
  await enter(alice, aliceName);
  await enter(bob, bobName);

  // Each sees the other online (alice via a presence event, bob via the subscribe answer).
  await alice.waitForSelector(`#online button[data-user="${bobName}"]`);
  await bob.waitForSelector(`#online button[data-user="${aliceName}"]`);
  step('both joined and see each other online');

  const say = async (page, text) => {
    await page.fill('#text', text);
    await page.press('#text', 'Enter');
  };
  const seen = (page, from, text, kind = 'room') =>
    page.waitForSelector(`#messages li.msg[data-kind="${kind}"][data-from="${from}"] >> text=${text}`);

  await say(alice, 'Hi Bob! Ça va ?');
  await seen(bob, aliceName, 'Hi Bob! Ça va ?');
  await seen(alice, aliceName, 'Hi Bob! Ça va ?');
  await say(bob, 'Hello Alice, nice to see you here.');
  await seen(alice, bobName, 'Hello Alice, nice to see you here.');
  step('room messages delivered both ways');

  // Bob picks Alice in the online list and whispers.
  await bob.click(`#online button[data-user="${aliceName}"]`);
  await bob.waitForSelector('#private-to:not([hidden])');
  await say(bob, 'psst, this one is just for you');
  await seen(alice, bobName, 'psst, this one is just for you', 'private');
  await seen(bob, bobName, 'psst, this one is just for you', 'private');
  step('private message delivered to alice (and the copy to bob)');
  await bob.click('#private-clear');
  await say(alice, 'Got it, merci');
  await seen(bob, aliceName, 'Got it, merci');

  await alice.screenshot({ path: join(shots, 'chat.png') });
  // The same conversation on a phone-sized screen.
  await bob.setViewportSize({ width: 390, height: 760 });
  await bob.screenshot({ path: join(shots, 'chat-phone.png') });
  await bob.click('#toggle-online');
  await bob.waitForSelector('#online-panel', { state: 'visible' });
  await bob.screenshot({ path: join(shots, 'chat-phone-online.png') });
  const fresh = await context.newPage();
  await fresh.setViewportSize({ width: 390, height: 760 });
  await fresh.goto(url);
  await fresh.screenshot({ path: join(shots, 'join-phone.png') });
  step(`screenshots in ${shots}`);

  if (errors.length) throw new Error(`errors in the pages:\n  ${errors.join('\n  ')}`);
  console.log('browser chat test: OK');
} catch (e) {
  console.error(`browser chat test FAILED: ${e.message}`);
  if (errors.length) console.error(`page errors:\n  ${errors.join('\n  ')}`);
  if (context) {
    for (const [i, page] of context.pages().entries()) {
      await page.screenshot({ path: join(shots, `failure-${i}.png`) }).catch(() => {});
    }
  }
  process.exitCode = 1;
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  clearTimeout(watchdog);
}

function step(text) {
  console.log(`  ok: ${text}`);
}
