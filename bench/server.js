// Runs stomp-broker-js (the npm package, unmodified) on ws://127.0.0.1:PORT/ws for
// scripts/bench.sh. Usage: node server.js [port]   (default 8082)
'use strict';
const http = require('http');
const StompServer = require('stomp-broker-js');

const port = Number(process.argv[2] || 8082);
const server = http.createServer();
// heartbeat [0, 0]: the load generator asks for none; no debug output.
new StompServer({ server, path: '/ws', heartbeat: [0, 0] });
server.listen(port, '127.0.0.1', () => {
  process.stderr.write(`stomp-broker-js listening on ws://127.0.0.1:${port}/ws\n`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
