// authsim's WebAuthn client judged by SimpleWebAuthn (@simplewebauthn/server) as the relying
// party: options from generateRegistrationOptions / generateAuthenticationOptions go to the
// daemon's control API (POST /webauthn/authenticator/NAME/register|authenticate), and every
// response must pass verifyRegistrationResponse / verifyAuthenticationResponse: ES256 and EdDSA,
// residentKey required/preferred/discouraged, userVerification on a plain, a PIN and a built-in
// UV key, credProps, counters rising; an rp id the origin may not claim is a SecurityError.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const harness = require('./harness');

const RP = 'example.com';
const ORIGIN = 'https://login.example.com';
const PIN = '1234';

const startDaemon = () => harness.startDaemon(['--attestation', 'self']);
const call = harness.callApi;

async function ceremony(d, key, kind, options, extra = {}) {
	const r = await call(d, 'POST', `/webauthn/authenticator/${key}/${kind}`, {
		origin: ORIGIN,
		options,
		...extra,
	});
	assert.strictEqual(r.status, 200, JSON.stringify(r.body));
	return r.body;
}

test('SimpleWebAuthn verifies what the daemon registers and asserts', async t => {
	const swa = await import('@simplewebauthn/server');
	const d = await startDaemon();
	t.after(() => d.stop());
	for (const [name, body] of [
		['pinkey', { pin: PIN }],
		['bio', { hasUserVerification: true, isUserVerified: true }],
	]) {
		const r = await call(d, 'POST', '/webauthn/authenticator', {
			name,
			hidSocket: path.join(d.dir, `${name}.sock`),
			...body,
		});
		assert.strictEqual(r.status, 201, JSON.stringify(r.body));
	}
	const cases = [];
	for (const alg of [-7, -8]) {
		for (const residentKey of ['required', 'preferred', 'discouraged']) {
			cases.push({ key: 'default', alg, residentKey, userVerification: 'discouraged' });
		}
	}
	for (const key of ['pinkey', 'bio']) {
		for (const userVerification of ['required', 'preferred', 'discouraged']) {
			cases.push({ key, alg: -7, residentKey: 'discouraged', userVerification });
		}
	}
	let n = 0;
	for (const c of cases) {
		n += 1;
		const options = await swa.generateRegistrationOptions({
			rpName: 'Example',
			rpID: RP,
			userName: `user-${n}`,
			attestationType: 'none',
			supportedAlgorithmIDs: [c.alg],
			authenticatorSelection: {
				residentKey: c.residentKey,
				userVerification: c.userVerification,
			},
			extensions: { credProps: true },
		});
		const extra = c.key === 'pinkey' ? { pin: PIN } : {};
		const response = await ceremony(d, c.key, 'register', options, extra);
		const uvRequired = c.userVerification === 'required';
		const reg = await swa.verifyRegistrationResponse({
			response,
			expectedChallenge: options.challenge,
			expectedOrigin: ORIGIN,
			expectedRPID: RP,
			requireUserVerification: uvRequired,
		});
		assert.ok(reg.verified, JSON.stringify(c));
		assert.deepStrictEqual(response.clientExtensionResults.credProps, {
			rk: c.residentKey !== 'discouraged',
		});
		const { credential } = reg.registrationInfo;
		let counter = credential.counter;
		for (let i = 0; i < 2; i += 1) {
			const authOptions = await swa.generateAuthenticationOptions({
				rpID: RP,
				allowCredentials: [{ id: credential.id }],
				userVerification: c.userVerification,
			});
			const assertion = await ceremony(d, c.key, 'authenticate', authOptions, extra);
			const auth = await swa.verifyAuthenticationResponse({
				response: assertion,
				expectedChallenge: authOptions.challenge,
				expectedOrigin: ORIGIN,
				expectedRPID: RP,
				credential: { ...credential, counter },
				requireUserVerification: uvRequired,
			});
			assert.ok(auth.verified, JSON.stringify(c));
			assert.ok(auth.authenticationInfo.newCounter > counter, 'the counter rises');
			counter = auth.authenticationInfo.newCounter;
		}
	}
});

test('an rp id the origin may not claim is a SecurityError, and nothing is made', async t => {
	const swa = await import('@simplewebauthn/server');
	const d = await startDaemon();
	t.after(() => d.stop());
	const options = await swa.generateRegistrationOptions({
		rpName: 'Evil',
		rpID: 'evil.example.org',
		userName: 'mallory',
		authenticatorSelection: { residentKey: 'required' },
	});
	const r = await call(d, 'POST', '/webauthn/authenticator/default/register', {
		origin: ORIGIN,
		options,
	});
	assert.strictEqual(r.status, 400);
	assert.strictEqual(r.body.error, 'SecurityError');
	const creds = await call(d, 'GET', '/webauthn/authenticator/default/credentials');
	assert.deepStrictEqual(creds.body, []);
});
