// The chat page: plain JavaScript on top of @stomp/stompjs (served by the chat binary from
// its npm package, at /vendor/stomp.umd.min.js).
//
// Destinations used (all JSON):
//   SEND      /app/join/{room}     announce yourself in a room      -> /topic/chat.{room}
//   SEND      /app/chat/{room}     {text}                           -> /topic/chat.{room}
//   SEND      /app/private         {to, text}                       -> /user/queue/inbox (recipient),
//                                                                       /user/queue/private (sender's copy)
//   SUBSCRIBE /user/queue/inbox    private messages to you; with the embedded broker they wait
//                                  there while you are away (on disk with --data-dir), and each
//                                  is acknowledged once shown (ack: client-individual)
//   SUBSCRIBE /app/online          one answer: the names online now
//   SUBSCRIBE /topic/presence      {user, online} when people come and go
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const state = { client: null, name: '', room: '', online: new Set(), privateTo: null };

  if (typeof StompJs === 'undefined') {
    showJoinError('The STOMP library did not load (/vendor/stomp.umd.min.js). Run the server with scripts/chat.sh, which installs it.');
    $('join').disabled = true;
    return;
  }

  $('join-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = $('name').value.trim();
    const room = $('room').value.trim();
    if (!name || !room) return;
    start(name, room);
  });
  $('composer').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sendCurrent();
  });
  $('leave').addEventListener('click', leave);
  $('private-clear').addEventListener('click', () => setPrivate(null));
  $('toggle-online').addEventListener('click', () => $('chat-view').classList.toggle('show-online'));
  const params = new URLSearchParams(location.search);
  if (params.get('name')) $('name').value = params.get('name');
  if (params.get('room')) $('room').value = params.get('room');

  function start(name, room) {
    state.name = name;
    state.room = room;
    $('me').textContent = name;
    $('room-name').textContent = room;
    $('join-view').hidden = true;
    $('chat-view').hidden = false;
    $('messages').replaceChildren();
    setStatus('connecting', 'connecting…');

    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const client = new StompJs.Client({
      brokerURL: `${scheme}://${location.host}/ws`,
      connectHeaders: { login: name },
      heartbeatIncoming: 10000,
      heartbeatOutgoing: 10000,
      reconnectDelay: 2000,
    });
    client.onConnect = () => {
      const connectedAt = Date.now();
      setStatus('online', 'connected');
      client.subscribe(`/topic/chat.${room}`, (m) => onRoomMessage(JSON.parse(m.body)));
      client.subscribe('/user/queue/private', (m) => onPrivate(JSON.parse(m.body)));
      // The inbox: what was sent while we were away arrives first, then new messages. Each
      // is acknowledged once shown, so one lost with the connection comes back next time.
      client.subscribe('/user/queue/inbox', (m) => {
        onPrivate(JSON.parse(m.body), connectedAt);
        m.ack();
      }, { ack: 'client-individual' });
      // Application errors (a bad payload, an unknown /app destination) come here; the
      // connection stays open. Protocol errors still arrive as ERROR frames (below).
      client.subscribe('/user/queue/errors', (m) => {
        addSystem(`Error: ${m.headers.message ?? ''} ${m.body ?? ''}`.trim(), true);
      });
      client.subscribe('/topic/presence', (m) => onPresence(JSON.parse(m.body)));
      client.subscribe('/app/online', (m) => setOnline(JSON.parse(m.body)));
      client.publish({ destination: `/app/join/${room}`, body: '{}', headers: { 'content-type': 'application/json' } });
      $('text').focus();
    };
    client.onStompError = (frame) => {
      addSystem(`Server error: ${frame.headers.message ?? ''} ${frame.body ?? ''}`.trim(), true);
    };
    client.onWebSocketClose = () => setStatus('offline', 'reconnecting…');
    client.activate();
    state.client = client;
  }

  async function leave() {
    const client = state.client;
    state.client = null;
    if (client) await client.deactivate();
    state.online.clear();
    renderOnline();
    setPrivate(null);
    $('chat-view').hidden = true;
    $('join-view').hidden = false;
  }

  function sendCurrent() {
    const input = $('text');
    const text = input.value.trim();
    if (!text || !state.client || !state.client.connected) return;
    const headers = { 'content-type': 'application/json' };
    if (state.privateTo) {
      state.client.publish({ destination: '/app/private', body: JSON.stringify({ to: state.privateTo, text }), headers });
    } else {
      state.client.publish({ destination: `/app/chat/${state.room}`, body: JSON.stringify({ text }), headers });
    }
    input.value = '';
    input.focus();
  }

  function onRoomMessage(msg) {
    if (msg.kind === 'join') {
      addSystem(`${msg.from} joined #${msg.room}`);
      return;
    }
    addMessage({ from: msg.from, text: msg.text, at: msg.at, mine: msg.from === state.name, kind: 'room' });
  }

  function onPrivate(msg, connectedAt) {
    const mine = msg.from === state.name;
    const away = connectedAt !== undefined && msg.at < connectedAt ? ' (while you were away)' : '';
    const label = mine ? `you → ${msg.to}` : `${msg.from} → you${away}`;
    addMessage({ from: msg.from, label, text: msg.text, at: msg.at, mine, kind: 'private' });
  }

  function onPresence(event) {
    if (event.online) state.online.add(event.user);
    else state.online.delete(event.user);
    renderOnline();
  }

  function setOnline(names) {
    state.online = new Set(names);
    renderOnline();
  }

  function renderOnline() {
    const names = [...state.online].sort((a, b) => a.localeCompare(b));
    $('online-count').textContent = String(names.length);
    $('online').replaceChildren(...names.map((name) => {
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = name;
      button.dataset.user = name;
      if (name === state.name) {
        li.className = 'me';
        button.disabled = true;
      } else {
        button.addEventListener('click', () => setPrivate(name));
      }
      li.append(button);
      return li;
    }));
  }

  function setPrivate(name) {
    state.privateTo = name;
    $('private-to').hidden = !name;
    $('private-name').textContent = name ?? '';
    $('text').placeholder = name ? `Private message to ${name}` : 'Message the room';
    $('chat-view').classList.remove('show-online');
    $('text').focus();
  }

  function addMessage({ from, label, text, at, mine, kind }) {
    const li = document.createElement('li');
    li.className = `msg${mine ? ' mine' : ''}${kind === 'private' ? ' private' : ''}`;
    li.dataset.from = from;
    li.dataset.kind = kind;
    const meta = document.createElement('div');
    meta.className = 'meta';
    const who = document.createElement('strong');
    who.textContent = label ?? from;
    meta.append(who, ` · ${formatTime(at)}`);
    const body = document.createElement('div');
    body.className = 'text';
    body.textContent = text;
    li.append(meta, body);
    append(li);
  }

  function addSystem(text, isError = false) {
    const li = document.createElement('li');
    li.className = `system${isError ? ' error' : ''}`;
    li.textContent = text;
    append(li);
  }

  function append(li) {
    const box = $('messages').parentElement;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    $('messages').append(li);
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  function formatTime(at) {
    const d = typeof at === 'number' ? new Date(at) : new Date();
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  function setStatus(stateName, text) {
    $('status').dataset.state = stateName;
    $('status').textContent = text;
  }

  function showJoinError(text) {
    $('join-error').textContent = text;
    $('join-error').hidden = false;
  }
})();
