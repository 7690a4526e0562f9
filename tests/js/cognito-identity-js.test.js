// Judge: amazon-cognito-identity-js (its own SRP client and MFA calls) and the AWS SDK for
// JavaScript v3 against the Cognito stand-in.
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
	AdminGetUserCommand,
	InitiateAuthCommand,
} = require('@aws-sdk/client-cognito-identity-provider');
const {
	CognitoUserPool,
	CognitoUser,
	AuthenticationDetails,
} = require('amazon-cognito-identity-js');
const { startEmulator, unique } = require('./harness');

const PASSWORD = 'Corr3ct-Horse!';
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

async function setup(mfa) {
	const pool = await idp.send(new CreateUserPoolCommand({ PoolName: unique('js-pool') }));
	const poolId = pool.UserPool.Id;
	await idp.send(
		new SetUserPoolMfaConfigCommand({
			UserPoolId: poolId,
			MfaConfiguration: mfa,
			SoftwareTokenMfaConfiguration: { Enabled: true },
		})
	);
	const client = await idp.send(
		new CreateUserPoolClientCommand({
			UserPoolId: poolId,
			ClientName: unique('js-client'),
			ExplicitAuthFlows: ['ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH', 'ALLOW_USER_PASSWORD_AUTH'],
		})
	);
	const username = unique('js-user');
	await idp.send(
		new AdminCreateUserCommand({ UserPoolId: poolId, Username: username, MessageAction: 'SUPPRESS' })
	);
	await idp.send(
		new AdminSetUserPasswordCommand({ UserPoolId: poolId, Username: username, Password: PASSWORD, Permanent: true })
	);
	const userPool = new CognitoUserPool({
		UserPoolId: poolId,
		ClientId: client.UserPoolClient.ClientId,
		endpoint: emu.url,
	});
	return { poolId, clientId: client.UserPoolClient.ClientId, username, userPool };
}

// authenticateUser with every callback turned into a settled promise.
function signIn(userPool, username, password = PASSWORD) {
	const user = new CognitoUser({ Username: username, Pool: userPool });
	const details = new AuthenticationDetails({ Username: username, Password: password });
	return new Promise(resolve => {
		user.authenticateUser(details, {
			onSuccess: session => resolve({ user, kind: 'success', session }),
			onFailure: err => resolve({ user, kind: 'failure', err }),
			mfaSetup: () => resolve({ user, kind: 'mfaSetup' }),
			totpRequired: () => resolve({ user, kind: 'totpRequired' }),
			mfaRequired: () => resolve({ user, kind: 'mfaRequired' }),
			selectMFAType: () => resolve({ user, kind: 'selectMFAType' }),
			newPasswordRequired: () => resolve({ user, kind: 'newPasswordRequired' }),
		});
	});
}

function associate(user) {
	return new Promise((resolve, reject) =>
		user.associateSoftwareToken({ associateSecretCode: resolve, onFailure: reject })
	);
}

function verify(user, code, name) {
	return new Promise((resolve, reject) =>
		user.verifySoftwareToken(code, name, { onSuccess: resolve, onFailure: reject })
	);
}

function sendTotp(user, code) {
	return new Promise(resolve =>
		user.sendMFACode(
			code,
			{ onSuccess: session => resolve({ session }), onFailure: err => resolve({ err }) },
			'SOFTWARE_TOKEN_MFA'
		)
	);
}

test('SRP sign-in, MFA_SETUP enrollment, then TOTP sign-in with amazon-cognito-identity-js', { timeout: 60000 }, async () => {
	const { poolId, username, userPool } = await setup('ON');

	const first = await signIn(userPool, username);
	assert.equal(first.kind, 'mfaSetup');
	const secret = await associate(first.user);
	assert.match(secret, /^[A-Z2-7]{32}$/);
	const session = await verify(first.user, await emu.code(secret), 'node judge');
	assert.ok(session.isValid());
	const access = session.getAccessToken().decodePayload();
	assert.equal(access.username, username);
	assert.equal(access.token_use, 'access');
	assert.equal(access.iss, `${emu.url}/${poolId}`);

	const admin = await idp.send(new AdminGetUserCommand({ UserPoolId: poolId, Username: username }));
	assert.deepEqual(admin.UserMFASettingList, ['SOFTWARE_TOKEN_MFA']);

	await emu.nextStep();
	const second = await signIn(userPool, username);
	assert.equal(second.kind, 'totpRequired');
	const code = await emu.code(secret);
	const ok = await sendTotp(second.user, code);
	assert.ok(ok.session, `sign-in failed: ${ok.err}`);
	assert.equal(ok.session.getIdToken().decodePayload()['cognito:username'], username);

	// The same code on a fresh sign-in is a replay.
	const third = await signIn(userPool, username);
	assert.equal(third.kind, 'totpRequired');
	const replay = await sendTotp(third.user, code);
	assert.equal(replay.err?.code, 'ExpiredCodeException');
	assert.equal(replay.err?.message, 'Your software token has already been used once.');
	const wrong = await sendTotp(third.user, await emu.code(secret, 2));
	assert.equal(wrong.err?.code, 'CodeMismatchException');
	const fine = await sendTotp(third.user, await emu.code(secret, 1));
	assert.ok(fine.session, `sign-in failed: ${fine.err}`);
});

test('OPTIONAL pool: enroll with the access token, setUserMfaPreference, expired session', { timeout: 60000 }, async () => {
	const { username, userPool } = await setup('OPTIONAL');
	const first = await signIn(userPool, username);
	assert.equal(first.kind, 'success');
	const secret = await associate(first.user);
	await verify(first.user, await emu.code(secret), 'node judge');
	await new Promise((resolve, reject) =>
		first.user.setUserMfaPreference(null, { PreferredMfa: true, Enabled: true }, (err, res) =>
			err ? reject(err) : resolve(res)
		)
	);
	const wrongPassword = await signIn(userPool, username, 'Wr0ng-Password!');
	assert.equal(wrongPassword.kind, 'failure');
	assert.equal(wrongPassword.err.code, 'NotAuthorizedException');
	assert.equal(wrongPassword.err.message, 'Incorrect username or password.');

	await emu.nextStep();
	const second = await signIn(userPool, username);
	assert.equal(second.kind, 'totpRequired');
	await emu.advance(181);
	const late = await sendTotp(second.user, await emu.code(secret));
	assert.equal(late.err?.code, 'NotAuthorizedException');
	assert.equal(late.err?.message, 'Invalid session for the user, session is expired.');
});

test('SDK v3: explicit flows and error shapes', { timeout: 60000 }, async () => {
	const pool = await idp.send(new CreateUserPoolCommand({ PoolName: unique('js-pool') }));
	const client = await idp.send(
		new CreateUserPoolClientCommand({
			UserPoolId: pool.UserPool.Id,
			ClientName: 'srp-only',
			GenerateSecret: true,
			ExplicitAuthFlows: ['ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
		})
	);
	assert.ok(client.UserPoolClient.ClientSecret);
	await assert.rejects(
		idp.send(
			new InitiateAuthCommand({
				ClientId: client.UserPoolClient.ClientId,
				AuthFlow: 'USER_PASSWORD_AUTH',
				AuthParameters: { USERNAME: 'x', PASSWORD: 'y' },
			})
		),
		err => err.name === 'InvalidParameterException' && err.$metadata.httpStatusCode === 400
	);
	await assert.rejects(
		idp.send(
			new InitiateAuthCommand({
				ClientId: client.UserPoolClient.ClientId,
				AuthFlow: 'USER_SRP_AUTH',
				AuthParameters: { USERNAME: 'x', SRP_A: 'abcdef' },
			})
		),
		err =>
			err.name === 'NotAuthorizedException' &&
			err.message === `Unable to verify secret hash for client ${client.UserPoolClient.ClientId}`
	);
});
