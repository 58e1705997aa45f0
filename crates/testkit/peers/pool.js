// Runs the npm Stratum V1 pool `stratum-pool-sha256` (2.1.3) against a regtest node, for the
// `peers` integration tests (sha256d-testkit's src/peers.rs starts it).
//
//   node peers/pool.js --module-dir DIR --port N --rpc-port N --address ADDR
//        [--rpc-host 127.0.0.1] [--rpc-user u] [--rpc-password p] [--diff 0.0001]
//        [--refresh-ms 500] [--rebroadcast-s 55]
//
// DIR holds node_modules/stratum-pool-sha256 (what `.ci/peers.sh` installs; the default is
// $SHA256D_STRATUM_POOL). stdout carries only what a test reads: one `listening <port>` line
// once the stratum port accepts connections, then one JSON object per line for each pool event
// ({"event":"share",...} with the pool's own fields, {"event":"difficultyUpdate",...}). The
// pool's logs and its debug prints go to stderr. The process exits when stdin closes, so a
// test that dies without cleaning up never leaves it running, and on SIGTERM or SIGINT.
'use strict';

const net = require('net');
const path = require('path');

function parseArgs(argv) {
    const out = {};
    for (let i = 0; i < argv.length; i += 2) {
        const key = argv[i];
        if (!key.startsWith('--') || i + 1 >= argv.length) {
            fail(`expected --name value pairs, got ${JSON.stringify(argv.slice(i))}`);
        }
        out[key.slice(2)] = argv[i + 1];
    }
    return out;
}

function fail(message) {
    process.stderr.write(`pool.js: ${message}\n`);
    process.exit(2);
}

function number(args, name, fallback) {
    const text = args[name];
    if (text === undefined) {
        if (fallback === undefined) fail(`--${name} is required`);
        return fallback;
    }
    const value = Number(text);
    if (!Number.isFinite(value)) fail(`--${name} wants a number, got ${JSON.stringify(text)}`);
    return value;
}

const args = parseArgs(process.argv.slice(2));
const moduleDir = args['module-dir'] || process.env.SHA256D_STRATUM_POOL;
if (!moduleDir) fail('--module-dir (or SHA256D_STRATUM_POOL) is required');
if (!args.address) fail('--address is required');
const port = number(args, 'port');
const rpcPort = number(args, 'rpc-port');
const diff = number(args, 'diff', 0.0001);
const refreshMs = number(args, 'refresh-ms', 500);
const rebroadcastS = number(args, 'rebroadcast-s', 55);

// The library prints debug dumps with console.log; keep stdout for the test's protocol.
console.log = (...parts) => console.error(...parts);
console.info = console.log;

function emit(event) {
    process.stdout.write(JSON.stringify(event) + '\n');
}

// The library calls `server.listen(port, callback)`, which listens on every interface. A test
// peer should be reachable from this machine only.
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (first, second, ...rest) {
    if (typeof first === 'number' && typeof second === 'function' && rest.length === 0) {
        return listen.call(this, first, '127.0.0.1', second);
    }
    return listen.call(this, first, second, ...rest);
};

// 2.1.3 reads this undeclared global when a share is also a block candidate, which on regtest
// is nearly every share (lib/jobManager.js); without it the process dies with a ReferenceError.
globalThis.extraNoncePlaceholder = Buffer.from('f000000ff111111f', 'hex');

const Stratum = require(path.join(path.resolve(moduleDir), 'node_modules', 'stratum-pool-sha256'));

const pool = Stratum.createPool({
    coin: { name: 'regtest', symbol: 'RT', algorithm: 'sha256', asicboost: true },
    address: args.address,
    ports: { [port]: { diff } },
    daemons: [{
        host: args['rpc-host'] || '127.0.0.1',
        port: rpcPort,
        user: args['rpc-user'] || 'u',
        password: args['rpc-password'] || 'p',
    }],
    p2p: { enabled: false },
    blockRefreshInterval: refreshMs,
    jobRebroadcastTimeout: rebroadcastS,
    connectionTimeout: 600,
    emitInvalidBlockHashes: true,
    tcpProxyProtocol: false,
    banning: { enabled: false },
}, (ip, port, worker, password, callback) => {
    callback({ error: null, authorized: true, disconnect: false });
});

pool.on('started', () => {
    process.stdout.write(`listening ${port}\n`);
});
pool.on('share', (isValidShare, isValidBlock, data) => {
    emit(Object.assign({ event: 'share', isValidShare, isValidBlock }, data));
});
pool.on('difficultyUpdate', (worker, difficulty) => {
    emit({ event: 'difficultyUpdate', worker, difficulty });
});
pool.on('log', (severity, text) => {
    process.stderr.write(`[${severity}] ${text}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

pool.start();
