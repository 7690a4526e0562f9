// Start and stop `authsim emulator` (and `authsim daemon`) for the Node judges, and use the
// emulator's test controls and the daemon's control API.
// The binary comes from $AUTHSIM_BIN (default ../../target/debug/authsim); the server binds
// 127.0.0.1 with port 0 and announces its address on stdout. Every wait is bounded.
'use strict';

const { spawn } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const http = require('node:http');
const OTPAuth = require('otpauth');

const CREDENTIALS = {
	accessKeyId: 'AKIAAUTHSIMTESTKEY01',
	secretAccessKey: 'authsim-dummy-secret-key-not-a-real-one',
};
const REGION = 'us-east-1';

function authsimBin() {
	const bin = path.resolve(
		process.env.AUTHSIM_BIN || path.join(__dirname, '..', '..', 'target', 'debug', 'authsim')
	);
	if (!fs.existsSync(bin)) {
		throw new Error(`authsim binary not found at ${bin}: build it or set AUTHSIM_BIN`);
	}
	return bin;
}

async function startEmulator() {
	const child = spawn(authsimBin(), ['emulator', '--listen', '127.0.0.1:0'], {
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	let stderr = '';
	child.stderr.on('data', d => {
		stderr += d;
	});
	const addr = await new Promise((resolve, reject) => {
		let out = '';
		const timer = setTimeout(() => reject(new Error(`emulator did not start: ${stderr}`)), 20000);
		child.stdout.on('data', d => {
			out += d;
			const m = out.match(/^listening on (127\.0\.0\.1:\d+)\n/);
			if (m) {
				clearTimeout(timer);
				resolve(m[1]);
			}
		});
		child.on('exit', code => {
			clearTimeout(timer);
			reject(new Error(`emulator exited with ${code}: ${stderr}`));
		});
	});
	const url = `http://${addr}`;

	async function control(method, p, body) {
		const r = await fetch(url + p, {
			method,
			headers: body ? { 'content-type': 'application/json' } : {},
			body: body ? JSON.stringify(body) : undefined,
			signal: AbortSignal.timeout(10000),
		});
		return { status: r.status, body: await r.json() };
	}

	async function now() {
		return (await control('GET', '/_authsim/clock')).body.now;
	}

	async function advance(seconds) {
		return (await control('POST', '/_authsim/clock', { advance_seconds: seconds })).body.now;
	}

	async function nextStep() {
		const t = await now();
		return advance(30 - (t % 30) + 0.5);
	}

	// TOTP codes of `secret` at the server's step plus each of `steps`, from one clock reading;
	// near a step's end the server clock first moves to the next step so codes cannot go stale.
	async function codes(secret, ...steps) {
		let t = await now();
		if (t % 30 > 25) {
			t = await nextStep();
		}
		const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret) });
		return steps.map(s => totp.generate({ timestamp: (Math.floor(t) + 30 * s) * 1000 }));
	}

	async function code(secret, steps = 0) {
		return (await codes(secret, steps))[0];
	}

	function stop() {
		return new Promise(resolve => {
			if (child.exitCode !== null) return resolve();
			child.once('exit', () => resolve());
			child.kill('SIGTERM');
			setTimeout(() => child.kill('SIGKILL'), 5000).unref();
		});
	}

	const sdkConfig = { endpoint: url, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 };
	return { url, control, now, advance, nextStep, code, codes, stop, sdkConfig };
}

// `authsim daemon --no-uhid --hid-socket DIR/hid.sock EXTRA...` on a throw-away state
// directory, once its control API is up; stop() ends it and removes the directory.
async function startDaemon(extra = []) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authsim-js-daemon-'));
	const env = { ...process.env, AUTHSIM_STATE_DIR: dir, AUTHSIM_KEYRING: 'off' };
	delete env.AUTHSIM_MASTER_KEY;
	delete env.RUST_LOG;
	const child = spawn(
		authsimBin(),
		['daemon', '--no-uhid', '--hid-socket', path.join(dir, 'hid.sock'), ...extra],
		{ env, stdio: ['ignore', 'pipe', 'pipe'] }
	);
	let stderr = '';
	child.stderr.on('data', d => (stderr += d));
	await new Promise((resolve, reject) => {
		let out = '';
		const timer = setTimeout(() => reject(new Error(`daemon did not start: ${stderr}`)), 20000);
		child.stdout.on('data', d => {
			out += d;
			if (out.includes('ready: api-socket')) {
				clearTimeout(timer);
				resolve();
			}
		});
		child.on('exit', code => reject(new Error(`daemon exited ${code}: ${stderr}`)));
	});
	return {
		dir,
		env,
		api: path.join(dir, 'api.sock'),
		stop() {
			child.kill('SIGTERM');
			fs.rmSync(dir, { recursive: true, force: true });
		},
	};
}

// One request to a daemon's control API: { status, body } (JSON decoded).
function callApi(d, method, route, body) {
	return new Promise((resolve, reject) => {
		const data = body === undefined ? undefined : JSON.stringify(body);
		const req = http.request(
			{
				socketPath: d.api,
				method,
				path: route,
				headers: data ? { 'Content-Type': 'application/json' } : {},
				timeout: 30000,
			},
			res => {
				let text = '';
				res.on('data', c => (text += c));
				res.on('end', () => resolve({ status: res.statusCode, body: text ? JSON.parse(text) : null }));
			}
		);
		req.on('error', reject);
		req.on('timeout', () => req.destroy(new Error('timeout')));
		if (data) req.write(data);
		req.end();
	});
}

function unique(prefix) {
	return `${prefix}-${Math.random().toString(36).slice(2, 10)}`;
}

module.exports = { startEmulator, startDaemon, callApi, authsimBin, unique, REGION, CREDENTIALS };
