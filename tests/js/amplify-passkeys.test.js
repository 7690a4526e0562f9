// Judge: Amplify Auth's own passkey functions (aws-amplify v6: associateWebAuthnCredential,
// listWebAuthnCredentials, signIn with USER_AUTH / WEB_AUTHN, deleteWebAuthnCredential) run in
// Node against the stand-in, headless, as a CI job would: navigator.credentials.create()/get()
// are a small shim that sends the options to the daemon's control API
// (POST /webauthn/authenticator/NAME/register|authenticate) and hands Amplify back
// PublicKeyCredential objects as a browser does. The AWS SDK v3 checks what Amplify did.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
	CognitoIdentityProviderClient,
	CreateUserPoolCommand,
	SetUserPoolMfaConfigCommand,
	CreateUserPoolClientCommand,
	AdminCreateUserCommand,
	AdminSetUserPasswordCommand,
	GetUserCommand,
	ListWebAuthnCredentialsCommand,
} = require('@aws-sdk/client-cognito-identity-provider');
const { startEmulator, startDaemon, callApi, unique } = require('./harness');

const PASSWORD = 'Corr3ct-Horse!';
const RP_ID = 'example.com';
const ORIGIN = 'https://example.com';

// --- the browser's part: navigator.credentials routed to the daemon --------------------------

const toB64url = b => Buffer.from(b instanceof ArrayBuffer ? new Uint8Array(b) : b).toString('base64url');
const toBuffer = s => {
	const b = Buffer.from(s, 'base64url');
	return b.buffer.slice(b.byteOffset, b.byteOffset + b.length);
};

// Options with ArrayBuffers (what a page passes) as the JSON forms of WebAuthn L3.
function optionsJson(o) {
	const out = { ...o, challenge: toB64url(o.challenge) };
	if (o.user) out.user = { ...o.user, id: toB64url(o.user.id) };
	for (const list of ['excludeCredentials', 'allowCredentials']) {
		if (o[list]) out[list] = o[list].map(c => ({ ...c, id: toB64url(c.id) }));
	}
	return out;
}

class AuthenticatorAttestationResponse {
	constructor(r) {
		this.clientDataJSON = toBuffer(r.clientDataJSON);
		this.attestationObject = toBuffer(r.attestationObject);
		this.r = r;
	}
	getTransports() {
		return this.r.transports || [];
	}
	getPublicKeyAlgorithm() {
		return this.r.publicKeyAlgorithm;
	}
	getAuthenticatorData() {
		return toBuffer(this.r.authenticatorData);
	}
	getPublicKey() {
		return this.r.publicKey ? toBuffer(this.r.publicKey) : null;
	}
}

class AuthenticatorAssertionResponse {
	constructor(r) {
		this.clientDataJSON = toBuffer(r.clientDataJSON);
		this.authenticatorData = toBuffer(r.authenticatorData);
		this.signature = toBuffer(r.signature);
		this.userHandle = r.userHandle ? toBuffer(r.userHandle) : null;
	}
}

class PublicKeyCredential {
	constructor(json, response) {
		this.id = json.id;
		this.rawId = toBuffer(json.rawId);
		this.type = json.type;
		this.authenticatorAttachment = json.authenticatorAttachment ?? null;
		this.response = response;
		this.results = json.clientExtensionResults || {};
	}
	getClientExtensionResults() {
		return this.results;
	}
}

// A DOMException as the browser rejects with, named by the daemon's error.
function domError(body) {
	const e = new Error(body?.message || 'the ceremony failed');
	e.name = body?.error || 'NotAllowedError';
	return e;
}

function installBrowser(daemon, key) {
	const calls = [];
	async function ceremony(kind, publicKey) {
		const options = optionsJson(publicKey);
		calls.push({ kind, options });
		const r = await callApi(daemon, 'POST', `/webauthn/authenticator/${key}/${kind}`, {
			origin: ORIGIN,
			options,
		});
		if (r.status !== 200) throw domError(r.body);
		return r.body;
	}
	globalThis.PublicKeyCredential = PublicKeyCredential;
	globalThis.AuthenticatorAttestationResponse = AuthenticatorAttestationResponse;
	globalThis.AuthenticatorAssertionResponse = AuthenticatorAssertionResponse;
	// A page with nothing on it (Amplify probes the DOM for a framework).
	globalThis.document = {
		visibilityState: 'visible',
		addEventListener() {},
		querySelector: () => null,
		querySelectorAll: () => [],
	};
	globalThis.window = {
		document: globalThis.document,
		isSecureContext: true,
		PublicKeyCredential,
		location: { origin: ORIGIN },
		addEventListener() {},
		removeEventListener() {},
	};
	Object.defineProperty(globalThis, 'navigator', {
		configurable: true,
		value: {
			userAgent: 'authsim-judge',
			credentials: {
				async create({ publicKey }) {
					const json = await ceremony('register', publicKey);
					return new PublicKeyCredential(json, new AuthenticatorAttestationResponse(json.response));
				},
				async get({ publicKey }) {
					const json = await ceremony('authenticate', publicKey);
					return new PublicKeyCredential(json, new AuthenticatorAssertionResponse(json.response));
				},
			},
		},
	});
	return calls;
}

// --- the pool, set up with the SDK -----------------------------------------------------------

let emu;
let idp;
let daemon;
let calls;

before(async () => {
	emu = await startEmulator();
	idp = new CognitoIdentityProviderClient(emu.sdkConfig);
	daemon = await startDaemon(['--attestation', 'none']);
	calls = installBrowser(daemon, 'default');
});

after(async () => {
	idp?.destroy();
	daemon?.stop();
	await emu?.stop();
});

async function passkeyPool() {
	const pool = await idp.send(
		new CreateUserPoolCommand({
			PoolName: unique('amplify-pk'),
			UserPoolTier: 'ESSENTIALS',
			Policies: { SignInPolicy: { AllowedFirstAuthFactors: ['PASSWORD', 'WEB_AUTHN'] } },
		})
	);
	const poolId = pool.UserPool.Id;
	await idp.send(
		new SetUserPoolMfaConfigCommand({
			UserPoolId: poolId,
			MfaConfiguration: 'OFF',
			WebAuthnConfiguration: { RelyingPartyId: RP_ID, UserVerification: 'preferred' },
		})
	);
	const client = await idp.send(
		new CreateUserPoolClientCommand({
			UserPoolId: poolId,
			ClientName: 'amplify',
			ExplicitAuthFlows: ['ALLOW_USER_AUTH', 'ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
		})
	);
	const username = unique('amplify-user');
	await idp.send(
		new AdminCreateUserCommand({ UserPoolId: poolId, Username: username, MessageAction: 'SUPPRESS' })
	);
	await idp.send(
		new AdminSetUserPasswordCommand({
			UserPoolId: poolId,
			Username: username,
			Password: PASSWORD,
			Permanent: true,
		})
	);
	return { poolId, clientId: client.UserPoolClient.ClientId, username };
}

// Amplify wraps what it does not recognise as "An unknown error has occurred": show the cause.
const why = e => {
	throw e.underlyingError ?? e;
};

test('Amplify registers a passkey on the virtual key, lists it, signs in with it and deletes it', async () => {
	const { poolId, clientId, username } = await passkeyPool();
	const { Amplify } = require('aws-amplify');
	const auth = require('aws-amplify/auth');
	Amplify.configure({
		Auth: { Cognito: { userPoolId: poolId, userPoolClientId: clientId, userPoolEndpoint: emu.url } },
	});

	// Signed in with the password, the user adds a passkey: Amplify's own
	// StartWebAuthnRegistration → navigator.credentials.create() → CompleteWebAuthnRegistration.
	const first = await auth
		.signIn({ username, password: PASSWORD, options: { authFlowType: 'USER_PASSWORD_AUTH' } })
		.catch(why);
	assert.equal(first.isSignedIn, true, JSON.stringify(first.nextStep));
	await auth.associateWebAuthnCredential().catch(why);
	assert.deepEqual(
		calls.map(c => c.kind),
		['register']
	);
	assert.equal(calls[0].options.rp.id, RP_ID);

	const { credentials } = await auth.listWebAuthnCredentials();
	assert.equal(credentials.length, 1);
	assert.equal(credentials[0].relyingPartyId, RP_ID);
	assert.ok(credentials[0].createdAt instanceof Date, 'CreatedAt is a Date');
	const keyCreds = await callApi(daemon, 'GET', '/webauthn/authenticator/default/credentials');
	assert.ok(
		keyCreds.body.some(c => Buffer.from(c.credentialId, 'base64url').equals(Buffer.from(credentials[0].credentialId, 'base64url'))),
		'the passkey Cognito lists is the one on the key'
	);

	// A new session: USER_AUTH with WEB_AUTHN, no password; get() on the key.
	await auth.signOut();
	const second = await auth
		.signIn({ username, options: { authFlowType: 'USER_AUTH', preferredChallenge: 'WEB_AUTHN' } })
		.catch(why);
	assert.equal(second.isSignedIn, true, JSON.stringify(second.nextStep));
	assert.deepEqual(
		calls.map(c => c.kind),
		['register', 'authenticate']
	);
	const { tokens } = await auth.fetchAuthSession();
	const me = await idp.send(new GetUserCommand({ AccessToken: tokens.accessToken.toString() }));
	assert.equal(me.Username, username);
	const listed = await idp.send(
		new ListWebAuthnCredentialsCommand({ AccessToken: tokens.accessToken.toString() })
	);
	assert.equal(listed.Credentials[0].CredentialId, credentials[0].credentialId);

	// Deleted: Amplify lists none, and a passkey sign-in is offered no WEB_AUTHN.
	await auth.deleteWebAuthnCredential({ credentialId: credentials[0].credentialId });
	assert.deepEqual((await auth.listWebAuthnCredentials()).credentials, []);
	await auth.signOut();
	const third = await auth.signIn({
		username,
		options: { authFlowType: 'USER_AUTH', preferredChallenge: 'WEB_AUTHN' },
	});
	assert.equal(third.isSignedIn, false);
	assert.equal(third.nextStep.signInStep, 'CONTINUE_SIGN_IN_WITH_FIRST_FACTOR_SELECTION');
	assert.deepEqual(third.nextStep.availableChallenges, ['PASSWORD', 'PASSWORD_SRP']);
	assert.equal(calls.length, 2, 'the key was not asked again');
});
