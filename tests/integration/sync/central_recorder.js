#!/usr/bin/env node
// central_recorder.js - a recording HTTP forwarder between a gateway and a
// central neoedge, for tests/integration/sync/central.sh.
//
// Every request is forwarded to the target unchanged (method, path,
// headers, body) and its answer returned unchanged. Each POST to
// /api/v1/segments is also saved, so the test can replay a push exactly as
// the gateway sent it:
//   DIR/push-N.body   the request body (the bundle)
//   DIR/push-N.json   {"headers": {...request headers...}, "status": S,
//                      "answer": "...response body..."}
// N counts from 1 in arrival order. Expect: 100-continue is answered by
// the forwarder itself (it needs the body to forward it).
//
// Usage: node central_recorder.js --target PORT --dir DIR --ready FILE
// The ready file gets {"port": P} once listening on 127.0.0.1. Exits on
// SIGTERM.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');

function args() {
  const a = {};
  for (let i = 2; i < process.argv.length; i += 2) a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
  for (const k of ['target', 'dir', 'ready']) {
    if (!a[k]) {
      console.error(`central_recorder.js: --${k} is required`);
      process.exit(2);
    }
  }
  return a;
}

const opt = args();
let pushes = 0;

function record(req, body, status, answer) {
  const n = ++pushes;
  fs.writeFileSync(path.join(opt.dir, `push-${n}.body`), body);
  fs.writeFileSync(path.join(opt.dir, `push-${n}.json`),
                   JSON.stringify({headers: req.headers, status, answer}));
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const headers = Object.assign({}, req.headers);
    delete headers.expect; /* the body is complete: no need to ask again */
    headers['content-length'] = String(body.length);
    const up = http.request({host: '127.0.0.1', port: Number(opt.target), method: req.method,
                             path: req.url, headers}, (ur) => {
      const out = [];
      ur.on('data', (c) => out.push(c));
      ur.on('end', () => {
        const answer = Buffer.concat(out);
        if (req.method === 'POST' && req.url.startsWith('/api/v1/segments'))
          record(req, body, ur.statusCode, answer.toString());
        res.writeHead(ur.statusCode, ur.headers);
        res.end(answer);
      });
    });
    up.on('error', (e) => {
      res.writeHead(502, {'content-type': 'application/json'});
      res.end(JSON.stringify({error: `forwarder: ${e.message}`}));
    });
    up.end(body);
  });
});

server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(opt.ready, JSON.stringify({port: server.address().port}));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
