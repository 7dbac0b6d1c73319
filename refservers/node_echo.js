#!/usr/bin/env node
/*
 * node_echo.js - reference row: an echo server on Node's `net` module.
 *
 * Node is libuv underneath (Node 20 bundles libuv 1.46, epoll on Linux; see
 * servers/libuv.c for what that loop does): one thread runs JavaScript and
 * the epoll loop. Per read libuv hands a 64 KiB slab slice to a Buffer, the
 * 'data' event runs our closure, socket.write() tries write() at once
 * (libuv's uv_try_write) and queues only what the kernel refused.
 * Backpressure: write() returns false once the socket's writable buffer
 * holds highWaterMark (--bufsize) bytes; we pause() reading until 'drain'.
 * Half-close: allowHalfOpen is false, so after the peer's FIN Node ends our
 * side once pending writes are flushed, then closes.
 * EMFILE: libuv's reserve-descriptor trick (see servers/libuv.c).
 * Memory: every read is a new Buffer; freed ones wait for V8's GC, which
 * for external memory runs late (measured: arrayBuffers swings 1-25 MB while
 * a client streams), and glibc keeps the freed pages. So RSS follows the GC,
 * not the backlog: +4.4 MB after one 10 MB never-reading client, plateau
 * near 74 MB after eight (Node 20.20). Baseline RSS is ~43 MB.
 * Counters: bytes, messages, connections exact; of the system calls only
 * close is counted (one per 'close' event); Node exposes no hook for the
 * rest (strace -c -f shows them).
 *
 * Contract: --addr --port --backlog --bufsize --reuseport --work-us
 * --work-every --help; bad flag -> usage on stderr, exit 2; "READY <port>";
 * one JSON line of counters on SIGTERM/SIGINT, exit 0.
 */
'use strict';
const net = require('net');
const fs = require('fs');

const MODEL = 'node';
const cfg = { addr: '127.0.0.1', port: 0, backlog: 4096, bufsize: 16384, reuseport: false,
	      workUs: 0, workEvery: 1 };
const stats = { accepted: 0, closed: 0, cur: 0, peak_conns: 0, bytes_in: 0, bytes_out: 0,
		messages: 0, errors: 0, resets: 0, emfile: 0, closes: 0 };

function usage(out) {
	out.write(`usage: echo_${MODEL} [--addr A] [--port P] [--backlog N] [--bufsize BYTES]\n` +
		'       [--reuseport] [--work-us N] [--work-every K]\n' +
		'  --addr A        IPv4 address to listen on (default 127.0.0.1)\n' +
		'  --port P        TCP port, 0 = any free port (default 0)\n' +
		'  --backlog N     listen() backlog (default 4096)\n' +
		'  --bufsize BYTES stream highWaterMark: pending output before reads pause (default 16384)\n' +
		'  --reuseport     SO_REUSEPORT (needs Node >= 22.12)\n' +
		'  --work-us N     spin N microseconds of CPU per message (default 0)\n' +
		'  --work-every K  a message is heavy when the key of its first two bytes is a\n' +
		'                  multiple of K (about 1 in K for the generator\'s pseudo-random\n' +
		'                  payloads; exact at --depth 1, where one read is one message)\n' +
		'                  (default 1)\n' +
		"Prints 'READY <port>' when listening; on SIGTERM/SIGINT prints one JSON\n" +
		'line of counters and exits 0.\n');
}

function badArg(msg) {
	fs.writeSync(2, `${MODEL}: ${msg}\n`);
	usage(process.stderr);
	process.exitCode = 2;
	throw new Error('usage');   /* unwinds to the top level, which exits 2 */
}

function num(flag, s, min, max) {
	if (!/^[0-9]+$/.test(s) || Number(s) < min || Number(s) > max)
		badArg(`--${flag}: '${s}' is not a whole number from ${min} to ${max}`);
	return Number(s);
}

function parseArgs(argv) {
	const withValue = new Set(['addr', 'port', 'backlog', 'bufsize', 'work-us', 'work-every']);
	for (let i = 0; i < argv.length; i++) {
		let a = argv[i], v;
		if (!a.startsWith('--'))
			badArg(`unexpected argument '${a}'`);
		a = a.slice(2);
		const eq = a.indexOf('=');
		if (eq >= 0) { v = a.slice(eq + 1); a = a.slice(0, eq); }
		if (a === 'help') { usage(process.stdout); process.exit(0); }
		if (a === 'reuseport' && v === undefined) { cfg.reuseport = true; continue; }
		if (!withValue.has(a))
			badArg(`unknown or incomplete option '${argv[i]}'`);
		if (v === undefined) {
			if (i + 1 >= argv.length)
				badArg(`option '${argv[i]}' needs a value`);
			v = argv[++i];
		}
		switch (a) {
		case 'addr':
			if (!net.isIPv4(v))
				badArg(`--addr: '${v}' is not an IPv4 address`);
			cfg.addr = v; break;
		case 'port': cfg.port = num(a, v, 0, 65535); break;
		case 'backlog': cfg.backlog = num(a, v, 1, 2147483647); break;
		case 'bufsize': cfg.bufsize = num(a, v, 64, 64 << 20); break;
		case 'work-us': cfg.workUs = num(a, v, 0, 10000000); break;
		case 'work-every': cfg.workEvery = num(a, v, 1, 4294967295); break;
		}
	}
	const [maj, min] = process.versions.node.split('.').map(Number);
	if (cfg.reuseport && !(maj > 22 || (maj === 22 && min >= 12)))
		badArg(`--reuseport: Node ${process.versions.node} has no reusePort (needs >= 22.12)`);
}

/* Heavy iff the key of the first two bytes (little-endian; one byte if the
 * chunk has one) is a multiple of --work-every: work_key() in servers/common.h. */
function maybeWork(chunk) {
	if (!cfg.workUs || !chunk.length)
		return;
	const key = chunk.length >= 2 ? chunk[0] | chunk[1] << 8 : chunk[0];
	if (key % cfg.workEvery)
		return;
	const end = process.hrtime.bigint() + BigInt(cfg.workUs) * 1000n;
	while (process.hrtime.bigint() < end)
		;
}

function printStats() {
	const sc = { accept: 0, read: 0, write: 0, close: stats.closes, wait: 0, ctl: 0,
		     submit: 0, sigwait: 0, other: 0 };
	sc.total = stats.closes;
	const out = { model: MODEL, accepted: stats.accepted, closed: stats.closed,
		      peak_conns: stats.peak_conns, bytes_in: stats.bytes_in,
		      bytes_out: stats.bytes_out, messages: stats.messages, errors: stats.errors,
		      resets: stats.resets, emfile: stats.emfile, overflows: 0, syscalls: sc };
	fs.writeSync(1, JSON.stringify(out) + '\n');
}

function onConnection(sock) {
	stats.accepted++;
	if (++stats.cur > stats.peak_conns)
		stats.peak_conns = stats.cur;
	sock.on('data', (chunk) => {
		const n = chunk.length;
		stats.bytes_in += n;
		stats.messages++;
		maybeWork(chunk);
		if (!sock.write(chunk, (err) => { if (!err) stats.bytes_out += n; }))
			sock.pause();                    /* resume on 'drain' */
	});
	sock.on('drain', () => sock.resume());
	sock.on('error', (e) => {
		stats.errors++;
		if (e.code === 'ECONNRESET' || e.code === 'EPIPE')
			stats.resets++;
	});
	sock.on('close', () => {
		stats.closed++;
		stats.closes++;
		stats.cur--;
	});
}

function main() {
	try {
		parseArgs(process.argv.slice(2));
	} catch (e) {
		if (e.message === 'usage')
			process.exit(2);
		throw e;
	}
	const server = net.createServer({ noDelay: true, highWaterMark: cfg.bufsize }, onConnection);
	let listening = false;
	server.on('error', (e) => {
		if (!listening) {
			fs.writeSync(2, `${MODEL}: listen(${cfg.addr}:${cfg.port}): ${e.message}\n`);
			process.exit(1);
		}
		if (e.code === 'EMFILE' || e.code === 'ENFILE')
			stats.emfile++;                  /* accept failed; libuv keeps listening */
		else
			fs.writeSync(2, `${MODEL}: accept: ${e.message}\n`);
	});
	const stop = () => { printStats(); process.exit(0); };
	process.on('SIGTERM', stop);
	process.on('SIGINT', stop);
	const opts = { host: cfg.addr, port: cfg.port, backlog: cfg.backlog, exclusive: true };
	if (cfg.reuseport)
		opts.reusePort = true;
	server.listen(opts, () => {
		listening = true;
		fs.writeSync(1, `READY ${server.address().port}\n`);
	});
}

main();
