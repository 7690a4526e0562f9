// Judge: the AWS SDK for JavaScript v3 drives the Cognito stand-in's passkey APIs. The
// responses come from a software authenticator written here (ES256, attestation "none", node's
// crypto), so the SDK's own (de)serialisation is what is judged: CredentialCreationOptions and
// Credential as JSON documents, CREDENTIAL_REQUEST_OPTIONS and CREDENTIAL as JSON strings,
// CreatedAt as epoch seconds parsed into a Date.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const {
	CognitoIdentityProviderClient,
	CreateUserPoolCommand,
	SetUserPoolMfaConfigCommand,
	GetUserPoolMfaConfigCommand,
	CreateUserPoolClientCommand,
	AdminCreateUserCommand,
	AdminSetUserPasswordCommand,
	InitiateAuthCommand,
	RespondToAuthChallengeCommand,
	StartWebAuthnRegistrationCommand,
	CompleteWebAuthnRegistrationCommand,
	ListWebAuthnCredentialsCommand,
	DeleteWebAuthnCredentialCommand,
	GetUserAuthFactorsCommand,
} = require('@aws-sdk/client-cognito-identity-provider');
const { startEmulator, unique } = require('./harness');

const PASSWORD = 'Corr3ct-Horse!';
const RP_ID = 'example.com';
const ORIGIN = 'https://example.com';
let emu;
let idp;

before(async () => {
	emu = await startEmulator();
	idp = new CognitoIdentityProviderClient(emu.sdkConfig);
});

after(async () => {
	idp?.destroy();
	await emu?.stop();
});

// --- a minimal CBOR encoder (what an attestation object needs) -------------------------------

function cborHead(major, n) {
	if (n < 24) return Buffer.from([(major << 5) | n]);
	if (n < 256) return Buffer.from([(major << 5) | 24, n]);
	if (n < 65536) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
	const b = Buffer.alloc(5);
	b[0] = (major << 5) | 26;
	b.writeUInt32BE(n, 1);
	return b;
}

function cbor(v) {
	if (Number.isInteger(v)) return v >= 0 ? cborHead(0, v) : cborHead(1, -1 - v);
	if (Buffer.isBuffer(v)) return Buffer.concat([cborHead(2, v.length), v]);
	if (typeof v === 'string') {
		const b = Buffer.from(v, 'utf8');
		return Buffer.concat([cborHead(3, b.length), b]);
	}
	if (v instanceof Map) {
		const parts = [cborHead(5, v.size)];
		for (const [k, val] of v) parts.push(cbor(k), cbor(val));
		return Buffer.concat(parts);
	}
	throw new Error(`cannot encode ${typeof v}`);
}

const b64url = b => Buffer.from(b).toString('base64url');
const sha256 = b => crypto.createHash('sha256').update(b).digest();

// --- a software authenticator and the browser's part -----------------------------------------

class SoftKey {
	constructor() {
		const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
		this.privateKey = privateKey;
		const jwk = publicKey.export({ format: 'jwk' });
		this.cose = cbor(
			new Map([
				[1, 2],
				[3, -7],
				[-1, 1],
				[-2, Buffer.from(jwk.x, 'base64url')],
				[-3, Buffer.from(jwk.y, 'base64url')],
			])
		);
		this.id = crypto.randomBytes(32);
		this.counter = 0;
	}

	authData(rpId, flags, attested) {
		const counter = Buffer.alloc(4);
		counter.writeUInt32BE(++this.counter);
		const parts = [sha256(rpId), Buffer.from([flags]), counter];
		if (attested) {
			const len = Buffer.alloc(2);
			len.writeUInt16BE(this.id.length);
			parts.push(Buffer.alloc(16), len, this.id, this.cose);
		}
		return Buffer.concat(parts);
	}

	// navigator.credentials.create(): RegistrationResponseJSON.
	create(options) {
		assert.ok(options.pubKeyCredParams.some(p => p.alg === -7));
		const clientData = Buffer.from(
			JSON.stringify({ type: 'webauthn.create', challenge: options.challenge, origin: ORIGIN, crossOrigin: false })
		);
		const authData = this.authData(options.rp.id, 0x45, true); // UP, UV, AT
		const attObj = cbor(
			new Map([
				['fmt', 'none'],
				['attStmt', new Map()],
				['authData', authData],
			])
		);
		this.userHandle = options.user.id;
		return {
			id: b64url(this.id),
			rawId: b64url(this.id),
			type: 'public-key',
			authenticatorAttachment: 'cross-platform',
			clientExtensionResults: {},
			response: {
				clientDataJSON: b64url(clientData),
				attestationObject: b64url(attObj),
				transports: ['usb'],
			},
		};
	}

	// navigator.credentials.get(): AuthenticationResponseJSON.
	get(options) {
		const clientData = Buffer.from(
			JSON.stringify({ type: 'webauthn.get', challenge: options.challenge, origin: ORIGIN, crossOrigin: false })
		);
		const authData = this.authData(options.rpId, 0x05, false); // UP, UV
		const signature = crypto.sign('sha256', Buffer.concat([authData, sha256(clientData)]), this.privateKey);
		return {
			id: b64url(this.id),
			rawId: b64url(this.id),
			type: 'public-key',
			clientExtensionResults: {},
			response: {
				clientDataJSON: b64url(clientData),
				authenticatorData: b64url(authData),
				signature: b64url(signature),
				userHandle: this.userHandle,
			},
		};
	}
}

async function setup() {
	const pool = await idp.send(
		new CreateUserPoolCommand({
			PoolName: unique('js-pk-pool'),
			UserPoolTier: 'ESSENTIALS',
			Policies: { SignInPolicy: { AllowedFirstAuthFactors: ['PASSWORD', 'WEB_AUTHN'] } },
		})
	);
	const poolId = pool.UserPool.Id;
	await idp.send(
		new SetUserPoolMfaConfigCommand({
			UserPoolId: poolId,
			WebAuthnConfiguration: { RelyingPartyId: RP_ID, UserVerification: 'preferred' },
		})
	);
	const client = await idp.send(
		new CreateUserPoolClientCommand({
			UserPoolId: poolId,
			ClientName: unique('js-pk-client'),
			ExplicitAuthFlows: ['ALLOW_USER_AUTH', 'ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
		})
	);
	const clientId = client.UserPoolClient.ClientId;
	const username = unique('js-pk-user');
	await idp.send(new AdminCreateUserCommand({ UserPoolId: poolId, Username: username, MessageAction: 'SUPPRESS' }));
	await idp.send(
		new AdminSetUserPasswordCommand({ UserPoolId: poolId, Username: username, Password: PASSWORD, Permanent: true })
	);
	const signedIn = await idp.send(
		new InitiateAuthCommand({
			ClientId: clientId,
			AuthFlow: 'USER_PASSWORD_AUTH',
			AuthParameters: { USERNAME: username, PASSWORD },
		})
	);
	return { poolId, clientId, username, token: signedIn.AuthenticationResult.AccessToken };
}

async function passkeySignIn(clientId, username, key) {
	const start = await idp.send(
		new InitiateAuthCommand({
			ClientId: clientId,
			AuthFlow: 'USER_AUTH',
			AuthParameters: { USERNAME: username, PREFERRED_CHALLENGE: 'WEB_AUTHN' },
		})
	);
	assert.equal(start.ChallengeName, 'WEB_AUTHN');
	const optionsText = start.ChallengeParameters.CREDENTIAL_REQUEST_OPTIONS;
	assert.equal(typeof optionsText, 'string');
	const credential = key.get(JSON.parse(optionsText));
	return idp.send(
		new RespondToAuthChallengeCommand({
			ClientId: clientId,
			ChallengeName: 'WEB_AUTHN',
			Session: start.Session,
			ChallengeResponses: { USERNAME: username, CREDENTIAL: JSON.stringify(credential) },
		})
	);
}

test('SDK v3: register a passkey, list it, sign in with it, delete it', { timeout: 60000 }, async () => {
	const { poolId, clientId, username, token } = await setup();
	const config = await idp.send(new GetUserPoolMfaConfigCommand({ UserPoolId: poolId }));
	assert.deepEqual(config.WebAuthnConfiguration, {
		RelyingPartyId: RP_ID,
		UserVerification: 'preferred',
		FactorConfiguration: 'SINGLE_FACTOR',
	});

	const started = await idp.send(new StartWebAuthnRegistrationCommand({ AccessToken: token }));
	const options = started.CredentialCreationOptions;
	assert.equal(typeof options, 'object');
	assert.equal(options.rp.id, RP_ID);
	assert.equal(options.user.name, username);
	const key = new SoftKey();
	const credential = key.create(options);
	await idp.send(new CompleteWebAuthnRegistrationCommand({ AccessToken: token, Credential: credential }));

	const listed = await idp.send(new ListWebAuthnCredentialsCommand({ AccessToken: token }));
	assert.equal(listed.Credentials.length, 1);
	const [c] = listed.Credentials;
	assert.equal(c.CredentialId, credential.rawId);
	assert.equal(c.RelyingPartyId, RP_ID);
	assert.equal(c.AuthenticatorAttachment, 'cross-platform');
	assert.deepEqual(c.AuthenticatorTransports, ['usb']);
	assert.ok(c.CreatedAt instanceof Date && !Number.isNaN(c.CreatedAt.getTime()));
	const factors = await idp.send(new GetUserAuthFactorsCommand({ AccessToken: token }));
	assert.deepEqual(factors.ConfiguredUserAuthFactors, ['PASSWORD', 'WEB_AUTHN']);

	const done = await passkeySignIn(clientId, username, key);
	assert.ok(done.AuthenticationResult.AccessToken);

	await idp.send(new DeleteWebAuthnCredentialCommand({ AccessToken: token, CredentialId: c.CredentialId }));
	assert.deepEqual((await idp.send(new ListWebAuthnCredentialsCommand({ AccessToken: token }))).Credentials, []);
	await assert.rejects(
		idp.send(new DeleteWebAuthnCredentialCommand({ AccessToken: token, CredentialId: c.CredentialId })),
		err => err.name === 'ResourceNotFoundException'
	);
});

test('SDK v3: a replayed registration and a forged assertion are refused', { timeout: 60000 }, async () => {
	const { clientId, username, token } = await setup();
	const key = new SoftKey();
	const started = await idp.send(new StartWebAuthnRegistrationCommand({ AccessToken: token }));
	const credential = key.create(started.CredentialCreationOptions);
	await idp.send(new CompleteWebAuthnRegistrationCommand({ AccessToken: token, Credential: credential }));
	await assert.rejects(
		idp.send(new CompleteWebAuthnRegistrationCommand({ AccessToken: token, Credential: credential })),
		err => err.name === 'WebAuthnChallengeNotFoundException'
	);
	// Another key claiming the registered credential id cannot sign for it.
	const impostor = new SoftKey();
	impostor.id = key.id;
	await assert.rejects(passkeySignIn(clientId, username, impostor), err => err.name === 'NotAuthorizedException');
	const ok = await passkeySignIn(clientId, username, key);
	assert.ok(ok.AuthenticationResult.AccessToken);
});
