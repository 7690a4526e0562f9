// Judge: amazon-cognito-identity-js's own remembered-device flow against the Cognito
// stand-in: ConfirmDevice with the library's verifier, setDeviceStatusRemembered, a new
// CognitoUser signing in with the cached device (DEVICE_SRP_AUTH, no MFA), refresh with the
// device, forgetDevice, and the library's retry without a device the pool no longer knows.
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
	AdminListDevicesCommand,
	AdminForgetDeviceCommand,
} = require('@aws-sdk/client-cognito-identity-provider');
const { CognitoUserPool, CognitoUser, AuthenticationDetails } = require('amazon-cognito-identity-js');
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

// A pool with MFA required, TOTP, and devices remembered on the user's prompt standing in
// for MFA; one user with a password.
async function setup() {
	const pool = await idp.send(
		new CreateUserPoolCommand({
			PoolName: unique('js-dev-pool'),
			DeviceConfiguration: { ChallengeRequiredOnNewDevice: true, DeviceOnlyRememberedOnUserPrompt: true },
		})
	);
	const poolId = pool.UserPool.Id;
	assert.deepEqual(pool.UserPool.DeviceConfiguration, {
		ChallengeRequiredOnNewDevice: true,
		DeviceOnlyRememberedOnUserPrompt: true,
	});
	await idp.send(
		new SetUserPoolMfaConfigCommand({
			UserPoolId: poolId,
			MfaConfiguration: 'ON',
			SoftwareTokenMfaConfiguration: { Enabled: true },
		})
	);
	const client = await idp.send(
		new CreateUserPoolClientCommand({
			UserPoolId: poolId,
			ClientName: unique('js-dev-client'),
			ExplicitAuthFlows: ['ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
		})
	);
	const username = unique('js-dev-user');
	await idp.send(new AdminCreateUserCommand({ UserPoolId: poolId, Username: username, MessageAction: 'SUPPRESS' }));
	await idp.send(
		new AdminSetUserPasswordCommand({ UserPoolId: poolId, Username: username, Password: PASSWORD, Permanent: true })
	);
	const userPool = new CognitoUserPool({ UserPoolId: poolId, ClientId: client.UserPoolClient.ClientId, endpoint: emu.url });
	return { poolId, username, userPool };
}

function signIn(userPool, username) {
	const user = new CognitoUser({ Username: username, Pool: userPool });
	const details = new AuthenticationDetails({ Username: username, Password: PASSWORD });
	return new Promise(resolve => {
		user.authenticateUser(details, {
			onSuccess: (session, confirmationNecessary) =>
				resolve({ user, kind: 'success', session, confirmationNecessary }),
			onFailure: err => resolve({ user, kind: 'failure', err }),
			mfaSetup: () => resolve({ user, kind: 'mfaSetup' }),
			totpRequired: () => resolve({ user, kind: 'totpRequired' }),
			mfaRequired: () => resolve({ user, kind: 'mfaRequired' }),
		});
	});
}

const call = (fn, ...args) =>
	new Promise((resolve, reject) => fn(...args, { onSuccess: resolve, onFailure: reject }));

function sendTotp(user, code) {
	return new Promise(resolve =>
		user.sendMFACode(
			code,
			{
				onSuccess: (session, confirmationNecessary) => resolve({ session, confirmationNecessary }),
				onFailure: err => resolve({ err }),
			},
			'SOFTWARE_TOKEN_MFA'
		)
	);
}

async function enrollTotp(userPool, username) {
	const first = await signIn(userPool, username);
	assert.equal(first.kind, 'mfaSetup');
	const secret = await new Promise((resolve, reject) =>
		first.user.associateSoftwareToken({ associateSecretCode: resolve, onFailure: reject })
	);
	const code = await emu.code(secret);
	await new Promise((resolve, reject) =>
		first.user.verifySoftwareToken(code, 'judge', { onSuccess: resolve, onFailure: reject })
	);
	return secret;
}

async function adminDevices(poolId, username) {
	return (await idp.send(new AdminListDevicesCommand({ UserPoolId: poolId, Username: username }))).Devices;
}

const status = d => d.DeviceAttributes.find(a => a.Name === 'dev:device_remembered_status')?.Value;

test('remembered device: confirm, remember, sign in without MFA, refresh, forget', { timeout: 60000 }, async () => {
	const { poolId, username, userPool } = await setup();
	const secret = await enrollTotp(userPool, username);

	// A sign-in with MFA: the library confirms the new device with its own verifier.
	await emu.nextStep();
	const second = await signIn(userPool, username);
	assert.equal(second.kind, 'totpRequired');
	const confirmed = await sendTotp(second.user, await emu.code(secret));
	assert.ok(confirmed.session, `MFA sign-in failed: ${confirmed.err}`);
	assert.equal(confirmed.confirmationNecessary, true);
	let devices = await adminDevices(poolId, username);
	assert.equal(devices.length, 1);
	assert.equal(status(devices[0]), 'not_remembered');
	const deviceKey = devices[0].DeviceKey;
	assert.match(deviceKey, /^us-east-1_[0-9a-f-]{36}$/);
	assert.ok(devices[0].DeviceCreateDate instanceof Date);
	// Not remembered yet: the user-facing list does not show it.
	assert.deepEqual((await call(second.user.listDevices.bind(second.user), 10, null)).Devices, []);

	await call(second.user.setDeviceStatusRemembered.bind(second.user));
	devices = await adminDevices(poolId, username);
	assert.equal(status(devices[0]), 'remembered');
	const listed = await call(second.user.listDevices.bind(second.user), 10, null);
	assert.deepEqual(listed.Devices.map(d => d.DeviceKey), [deviceKey]);
	const got = await call(second.user.getDevice.bind(second.user));
	assert.equal(got.Device.DeviceKey, deviceKey);

	// A new CognitoUser on the same storage signs in with the cached device: no TOTP asked.
	const third = await signIn(userPool, username);
	assert.equal(third.kind, 'success', `expected device sign-in, got ${third.kind} ${third.err}`);
	const access = third.session.getAccessToken().decodePayload();
	assert.equal(access.device_key, deviceKey);
	assert.equal((await adminDevices(poolId, username)).length, 1, 'no second device');

	// Refresh with the device (the library sends DEVICE_KEY).
	const refreshed = await new Promise((resolve, reject) =>
		third.user.refreshSession(third.session.getRefreshToken(), (err, s) => (err ? reject(err) : resolve(s)))
	);
	assert.equal(refreshed.getAccessToken().decodePayload().device_key, deviceKey);

	await call(third.user.forgetDevice.bind(third.user));
	assert.deepEqual(await adminDevices(poolId, username), []);
	const fourth = await signIn(userPool, username);
	assert.equal(fourth.kind, 'totpRequired', 'a forgotten device asks for MFA again');
});

test('a device the pool forgot: the library retries without it and MFA is asked', { timeout: 60000 }, async () => {
	const { poolId, username, userPool } = await setup();
	const secret = await enrollTotp(userPool, username);
	await emu.nextStep();
	const second = await signIn(userPool, username);
	const confirmed = await sendTotp(second.user, await emu.code(secret));
	assert.ok(confirmed.session);
	await call(second.user.setDeviceStatusRemembered.bind(second.user));
	const [device] = await adminDevices(poolId, username);

	await idp.send(new AdminForgetDeviceCommand({ UserPoolId: poolId, Username: username, DeviceKey: device.DeviceKey }));
	const again = await signIn(userPool, username);
	assert.equal(again.kind, 'totpRequired');
	await emu.nextStep();
	const done = await sendTotp(again.user, await emu.code(secret));
	assert.ok(done.session, `sign-in after retry failed: ${done.err}`);
	// The retried sign-in had no device, so the pool issued (and the library confirmed) a new one.
	const devices = await adminDevices(poolId, username);
	assert.equal(devices.length, 1);
	assert.notEqual(devices[0].DeviceKey, device.DeviceKey);
});
