#!/usr/bin/env node
// proxy.js - an s3rver instance behind a verifying, fault-injecting proxy,
// for the S3 client's integration tests and benchmark.
//
// Starts s3rver (npm) on a free loopback port with its data in --dir, and a
// proxy in front of it that, for every request:
//   - checks x-amz-content-sha256 against the SHA-256 of the body received
//     (400 XAmzContentSHA256Mismatch) and Content-MD5, when sent, against its
//     MD5 (400 BadDigest);
//   - recomputes the SigV4 signature with @aws-sdk/signature-v4 over the
//     received method, path, query and signed headers, with the configured
//     secret, and compares (403 SignatureDoesNotMatch / InvalidAccessKeyId);
//     host, x-amz-date and x-amz-content-sha256 must be signed, and so must
//     x-amz-security-token when sent;
//   - a sent x-amz-security-token must equal --token;
//   - forwards the request to s3rver without its Authorization header
//     (s3rver does not verify SigV4 itself).
// s3rver 3.7 lacks ListParts and AbortMultipartUpload: the proxy answers
// those two from the parts it saw s3rver acknowledge.
//
// Admin API on a second port (JSON):
//   POST /faults  [{"kind": "500"|"503"|"403"|"reset"|"slow"|"drop",
//                   "count": N, "method": "PUT", "query": "partNumber=2",
//                   "ms": 3000}]     queue faults; each matching request
//                 consumes one ("slow" delays by ms before forwarding,
//                 "drop" forwards then resets the connection unanswered)
//   GET  /stats   {"requests", "verified", "rejected", "faults", "completes",
//                  "tokens_signed", "ops": {"<op>_ok"|"<op>_err": n},
//                  "log": [{op, method, path, query, status, host}]}
//                 op: put get head delete list create upload_part
//                     list_parts complete abort
//   POST /reset   clears faults and counters
//
// Usage: node proxy.js --dir D --bucket B --access AK --secret SK
//                      [--region R] [--token T] [--tls-cert PEM --tls-key PEM]
//                      --ready FILE
// The ready file gets {"proxy": port, "admin": port, "s3": port} (plus
// "tls", the same proxy over HTTPS, when a certificate is given) once all
// listen. Exits on SIGTERM.
'use strict';

const http = require('http');
const https = require('https');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const modules = path.join(__dirname, '..', '..', 'js', 'node_modules');
const S3rver = require(path.join(modules, 's3rver'));
const { SignatureV4 } = require(path.join(modules, '@aws-sdk/signature-v4'));
const { Sha256 } = require(path.join(modules, '@aws-crypto/sha256-js'));

function parseArgs(argv) {
  const o = { region: 'us-east-1', token: '' };
  for (let i = 2; i < argv.length; i += 2) o[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const k of ['dir', 'bucket', 'access', 'secret', 'ready']) {
    if (!o[k]) throw new Error(`missing --${k}`);
  }
  return o;
}

const opts = parseArgs(process.argv);
const state = {
  faults: [],
  stats: { requests: 0, verified: 0, rejected: 0, faults: 0, completes: 0, tokens_signed: 0, ops: {}, log: [] },
  uploads: new Map(), // uploadId -> { parts: Map(number -> {etag, size}) }
};

function xmlEscape(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function sendError(res, status, code, message) {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
    `<Message>${xmlEscape(message)}</Message></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function splitUrl(url) {
  const q = url.indexOf('?');
  return q < 0 ? { rawPath: url, rawQuery: '' } : { rawPath: url.slice(0, q), rawQuery: url.slice(q + 1) };
}

function parseQuery(raw) {
  const out = {};
  if (!raw) return out;
  for (const pair of raw.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const k = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
    const v = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
    if (k in out) out[k] = [].concat(out[k], v);
    else out[k] = v;
  }
  return out;
}

function parseAuth(h) {
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(h || '');
  if (!m) return null;
  return { access: m[1], date: m[2], region: m[3], service: m[4], signed: m[5].split(';'), signature: m[6] };
}

function amzDateToDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
  if (!m) return null;
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

// Returns null when the request is authentic, else [status, code, message].
async function verify(req, body) {
  const sha = crypto.createHash('sha256').update(body).digest('hex');
  if (req.headers['x-amz-content-sha256'] !== sha) {
    return [400, 'XAmzContentSHA256Mismatch', 'x-amz-content-sha256 does not match the body'];
  }
  if ('content-md5' in req.headers &&
      req.headers['content-md5'] !== crypto.createHash('md5').update(body).digest('base64')) {
    return [400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.'];
  }
  const auth = parseAuth(req.headers.authorization);
  if (!auth) return [403, 'AccessDenied', 'missing or malformed Authorization header'];
  if (auth.access !== opts.access) {
    return [403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.'];
  }
  for (const must of ['host', 'x-amz-date', 'x-amz-content-sha256']) {
    if (!auth.signed.includes(must)) return [403, 'AccessDenied', `${must} is not signed`];
  }
  if ('x-amz-security-token' in req.headers && !auth.signed.includes('x-amz-security-token')) {
    return [403, 'AccessDenied', 'x-amz-security-token is not signed'];
  }
  if ('x-amz-security-token' in req.headers && req.headers['x-amz-security-token'] !== opts.token) {
    return [403, 'InvalidToken', 'The provided token is malformed or otherwise invalid.'];
  }
  const date = amzDateToDate(req.headers['x-amz-date']);
  if (!date) return [403, 'AccessDenied', 'bad x-amz-date'];
  const headers = {};
  for (const name of auth.signed) {
    if (!(name in req.headers)) return [403, 'AccessDenied', `signed header ${name} not sent`];
    headers[name] = req.headers[name];
  }
  const { rawPath, rawQuery } = splitUrl(req.url);
  const signer = new SignatureV4({
    credentials: { accessKeyId: opts.access, secretAccessKey: opts.secret },
    region: opts.region,
    service: 's3',
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
  const signed = await signer.sign({
    method: req.method,
    protocol: 'http:',
    hostname: (req.headers.host || '').split(':')[0],
    path: rawPath,
    query: parseQuery(rawQuery),
    headers,
    body,
  }, { signingDate: date });
  const want = parseAuth(signed.headers.authorization);
  if (!want || want.signature !== auth.signature || want.signed.join(';') !== auth.signed.join(';')) {
    return [403, 'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided.'];
  }
  if (auth.signed.includes('x-amz-security-token')) state.stats.tokens_signed++;
  return null;
}

function takeFault(req) {
  const i = state.faults.findIndex((f) =>
    (!f.method || f.method === req.method) && (!f.query || splitUrl(req.url).rawQuery.includes(f.query)));
  if (i < 0) return null;
  const f = state.faults[i];
  if (--f.count <= 0) state.faults.splice(i, 1);
  state.stats.faults++;
  return f;
}

// ListParts / AbortMultipartUpload, which s3rver does not implement.
function handleUploadCalls(req, res, query) {
  if (!('uploadId' in query) || 'partNumber' in query) return false;
  const up = state.uploads.get(query.uploadId);
  if (req.method === 'GET') {
    if (!up) { sendError(res, 404, 'NoSuchUpload', 'The specified upload does not exist.'); return true; }
    const marker = Number(query['part-number-marker'] || 0);
    const nums = [...up.parts.keys()].filter((n) => n > marker).sort((a, b) => a - b);
    const page = nums.slice(0, 1000);
    const truncated = nums.length > page.length;
    let body = '<?xml version="1.0" encoding="UTF-8"?>\n<ListPartsResult>' +
      `<UploadId>${xmlEscape(query.uploadId)}</UploadId><IsTruncated>${truncated}</IsTruncated>`;
    if (truncated) body += `<NextPartNumberMarker>${page[page.length - 1]}</NextPartNumberMarker>`;
    for (const n of page) {
      const p = up.parts.get(n);
      body += `<Part><PartNumber>${n}</PartNumber><ETag>${xmlEscape(p.etag)}</ETag><Size>${p.size}</Size></Part>`;
    }
    body += '</ListPartsResult>';
    res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return true;
  }
  if (req.method === 'DELETE') {
    if (!up) { sendError(res, 404, 'NoSuchUpload', 'The specified upload does not exist.'); return true; }
    state.uploads.delete(query.uploadId);
    res.writeHead(204);
    res.end();
    return true;
  }
  if (req.method === 'POST' && !up) {
    sendError(res, 404, 'NoSuchUpload', 'The specified upload does not exist.');
    return true;
  }
  return false;
}

// Records what s3rver acknowledged, for ListParts and the counters.
function observe(req, query, status, headers, respBody, bodyLen) {
  if (status !== 200) return;
  if (req.method === 'POST' && 'uploads' in query) {
    const m = /<UploadId>([^<]+)<\/UploadId>/.exec(respBody);
    if (m) state.uploads.set(m[1], { parts: new Map() });
  } else if (req.method === 'PUT' && 'uploadId' in query && 'partNumber' in query) {
    const up = state.uploads.get(query.uploadId);
    if (up) up.parts.set(Number(query.partNumber), { etag: headers.etag, size: bodyLen });
  } else if (req.method === 'POST' && 'uploadId' in query) {
    state.uploads.delete(query.uploadId);
    state.stats.completes++;
  }
}

function forward(req, res, body, s3port, dropAnswer) {
  const headers = { ...req.headers };
  delete headers.authorization;
  headers['content-length'] = String(body.length);
  delete headers['transfer-encoding'];
  const query = parseQuery(splitUrl(req.url).rawQuery);
  const up = http.request({ host: '127.0.0.1', port: s3port, method: req.method, path: req.url, headers }, (ur) => {
    const chunks = [];
    ur.on('data', (c) => chunks.push(c));
    ur.on('end', () => {
      const rb = Buffer.concat(chunks);
      observe(req, query, ur.statusCode, ur.headers, rb.toString('utf8'), body.length);
      log(req, dropAnswer ? 0 : ur.statusCode);
      if (dropAnswer) { req.socket.destroy(); return; }
      res.writeHead(ur.statusCode, ur.headers);
      res.end(rb);
    });
  });
  up.on('error', (e) => sendError(res, 502, 'BadGateway', e.message));
  up.end(body);
}

// Names the S3 operation of a request, for the per-operation counters.
function opName(req) {
  const q = parseQuery(splitUrl(req.url).rawQuery);
  if ('uploads' in q) return 'create';
  if ('partNumber' in q) return 'upload_part';
  if ('uploadId' in q) return { GET: 'list_parts', POST: 'complete', DELETE: 'abort' }[req.method] || 'other';
  if ('list-type' in q) return 'list';
  return { PUT: 'put', GET: 'get', HEAD: 'head', DELETE: 'delete' }[req.method] || 'other';
}

function log(req, status) {
  const { rawPath, rawQuery } = splitUrl(req.url);
  const op = opName(req);
  const st = state.stats;
  st.log.push({ op, method: req.method, path: rawPath, query: rawQuery, status, host: req.headers.host });
  const key = `${op}_${status >= 200 && status < 300 ? 'ok' : 'err'}`;
  st.ops[key] = (st.ops[key] || 0) + 1;
}

function proxyHandler(s3port) {
  return (req, res) => {
    state.stats.requests++;
    const fault = takeFault(req);
    if (fault && fault.kind === 'reset') {
      log(req, 0);
      req.socket.destroy();
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      if (fault && ['500', '503', '403'].includes(fault.kind)) {
        log(req, Number(fault.kind));
        if (fault.kind === '500') return sendError(res, 500, 'InternalError', 'We encountered an internal error. Please try again.');
        if (fault.kind === '503') return sendError(res, 503, 'SlowDown', 'Please reduce your request rate.');
        return sendError(res, 403, 'AccessDenied', 'Access Denied');
      }
      let bad;
      try {
        bad = await verify(req, body);
      } catch (e) {
        bad = [403, 'SignatureDoesNotMatch', `verification failed: ${e.message}`];
      }
      if (bad) {
        state.stats.rejected++;
        log(req, bad[0]);
        return sendError(res, bad[0], bad[1], bad[2]);
      }
      state.stats.verified++;
      const go = () => {
        const query = parseQuery(splitUrl(req.url).rawQuery);
        if (handleUploadCalls(req, res, query)) { log(req, res.statusCode); return; }
        forward(req, res, body, s3port, fault && fault.kind === 'drop');
      };
      if (fault && fault.kind === 'slow') setTimeout(go, fault.ms || 3000);
      else go();
    });
  };
}

function adminHandler(req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let out = {};
    if (req.method === 'POST' && req.url === '/faults') {
      for (const f of JSON.parse(Buffer.concat(chunks).toString() || '[]')) {
        state.faults.push({ count: 1, ...f, kind: String(f.kind) });
      }
      out = { queued: state.faults.length };
    } else if (req.method === 'POST' && req.url === '/reset') {
      state.faults = [];
      state.stats = { requests: 0, verified: 0, rejected: 0, faults: 0, completes: 0, tokens_signed: 0, ops: {}, log: [] };
    } else if (req.url === '/stats') {
      out = state.stats;
    } else {
      res.writeHead(404);
      return res.end();
    }
    const b = JSON.stringify(out);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
    res.end(b);
  });
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

async function main() {
  const s3 = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: opts.dir,
    serviceEndpoint: 'localhost',
    configureBuckets: [{ name: opts.bucket }],
  });
  const s3addr = await s3.run();
  const proxy = http.createServer(proxyHandler(s3addr.port));
  proxy.keepAliveTimeout = 30000;
  const admin = http.createServer(adminHandler);
  const ports = { proxy: await listen(proxy), admin: await listen(admin), s3: s3addr.port };
  let tls = null;
  if (opts['tls-cert'] && opts['tls-key']) {
    tls = https.createServer({ cert: fs.readFileSync(opts['tls-cert']), key: fs.readFileSync(opts['tls-key']) },
      proxyHandler(s3addr.port));
    ports.tls = await listen(tls);
  }
  fs.writeFileSync(`${opts.ready}.tmp`, JSON.stringify(ports));
  fs.renameSync(`${opts.ready}.tmp`, opts.ready);
  const stop = () => {
    proxy.close();
    admin.close();
    if (tls) tls.close();
    s3.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
