// Judge: the AWS SDK for JavaScript v3 (IAM and STS clients) against the IAM/STS stand-in.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
	IAMClient,
	CreateUserCommand,
	CreateVirtualMFADeviceCommand,
	EnableMFADeviceCommand,
	ListMFADevicesCommand,
	ListVirtualMFADevicesCommand,
	ResyncMFADeviceCommand,
	DeactivateMFADeviceCommand,
	DeleteVirtualMFADeviceCommand,
	TagMFADeviceCommand,
	ListMFADeviceTagsCommand,
	UntagMFADeviceCommand,
	GetMFADeviceCommand,
	CreateAccessKeyCommand,
	GetUserCommand,
} = require('@aws-sdk/client-iam');
const { STSClient, GetSessionTokenCommand, GetCallerIdentityCommand } = require('@aws-sdk/client-sts');
const { startEmulator, unique } = require('./harness');

let emu;
let iam;
let sts;

before(async () => {
	emu = await startEmulator();
	iam = new IAMClient(emu.sdkConfig);
	sts = new STSClient(emu.sdkConfig);
});

after(async () => {
	iam?.destroy();
	sts?.destroy();
	await emu?.stop();
});

test('virtual MFA device lifecycle with STS GetSessionToken', { timeout: 60000 }, async () => {
	const user = unique('js-user');
	await iam.send(new CreateUserCommand({ UserName: user }));
	const created = await iam.send(
		new CreateVirtualMFADeviceCommand({
			VirtualMFADeviceName: unique('js-dev'),
			Tags: [{ Key: 'k', Value: 'v' }],
		})
	);
	const dev = created.VirtualMFADevice;
	const seed = Buffer.from(dev.Base32StringSeed).toString('ascii');
	assert.match(seed, /^[A-Z2-7]{64}$/);
	assert.deepEqual(Buffer.from(dev.QRCodePNG).subarray(0, 8), Buffer.from('89504e470d0a1a0a', 'hex'));
	const serial = dev.SerialNumber;
	assert.match(serial, /^arn:aws:iam::123456789012:mfa\/js-dev-/);

	await assert.rejects(
		iam.send(
			new EnableMFADeviceCommand({
				UserName: user,
				SerialNumber: serial,
				AuthenticationCode1: '123456',
				AuthenticationCode2: '234567',
			})
		),
		err =>
			err.name === 'InvalidAuthenticationCodeException' &&
			err.message === 'Authentication code for device is not valid.' &&
			err.$metadata.httpStatusCode === 403
	);
	const [code1, code2] = await emu.codes(seed, -1, 0);
	await iam.send(
		new EnableMFADeviceCommand({
			UserName: user,
			SerialNumber: serial,
			AuthenticationCode1: code1,
			AuthenticationCode2: code2,
		})
	);
	const listed = await iam.send(new ListMFADevicesCommand({ UserName: user }));
	assert.deepEqual(listed.MFADevices.map(d => d.SerialNumber), [serial]);
	assert.ok(listed.MFADevices[0].EnableDate instanceof Date);
	const assigned = await iam.send(new ListVirtualMFADevicesCommand({ AssignmentStatus: 'Assigned' }));
	assert.ok(assigned.VirtualMFADevices.some(d => d.SerialNumber === serial && d.User.UserName === user));
	const got = await iam.send(new GetMFADeviceCommand({ SerialNumber: serial }));
	assert.equal(got.UserName, user);

	await emu.nextStep();
	const code = await emu.code(seed);
	const creds = await sts.send(new GetSessionTokenCommand({ SerialNumber: serial, TokenCode: code }));
	assert.match(creds.Credentials.AccessKeyId, /^ASIA/);
	assert.ok(creds.Credentials.Expiration instanceof Date);
	await assert.rejects(
		sts.send(new GetSessionTokenCommand({ SerialNumber: serial, TokenCode: code })),
		err => err.name === 'AccessDenied' && err.$metadata.httpStatusCode === 403
	);

	const [r1, r2] = await emu.codes(seed, 1, 2);
	await iam.send(
		new ResyncMFADeviceCommand({
			UserName: user,
			SerialNumber: serial,
			AuthenticationCode1: r1,
			AuthenticationCode2: r2,
		})
	);

	await iam.send(new TagMFADeviceCommand({ SerialNumber: serial, Tags: [{ Key: 'x', Value: 'y' }] }));
	await iam.send(new UntagMFADeviceCommand({ SerialNumber: serial, TagKeys: ['k'] }));
	const tags = await iam.send(new ListMFADeviceTagsCommand({ SerialNumber: serial }));
	assert.deepEqual(tags.Tags, [{ Key: 'x', Value: 'y' }]);

	await assert.rejects(
		iam.send(new DeleteVirtualMFADeviceCommand({ SerialNumber: serial })),
		err => err.name === 'DeleteConflictException' && err.$metadata.httpStatusCode === 409
	);
	await iam.send(new DeactivateMFADeviceCommand({ UserName: user, SerialNumber: serial }));
	await iam.send(new DeleteVirtualMFADeviceCommand({ SerialNumber: serial }));
	await assert.rejects(
		iam.send(new DeleteVirtualMFADeviceCommand({ SerialNumber: serial })),
		err => err.name === 'NoSuchEntityException' && err.$metadata.httpStatusCode === 404
	);
});

test('issued access keys: the SDK v3 signature is verified and names the caller', { timeout: 60000 }, async () => {
	const user = unique('js-keys');
	await iam.send(new CreateUserCommand({ UserName: user }));
	const { AccessKey: key } = await iam.send(new CreateAccessKeyCommand({ UserName: user }));
	const config = {
		...emu.sdkConfig,
		credentials: { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey },
	};
	const asUser = new IAMClient(config);
	const stsUser = new STSClient(config);
	try {
		const me = await asUser.send(new GetUserCommand({}));
		assert.equal(me.User.UserName, user);
		const who = await stsUser.send(new GetCallerIdentityCommand({}));
		assert.equal(who.Arn, `arn:aws:iam::123456789012:user/${user}`);
	} finally {
		asUser.destroy();
		stsUser.destroy();
	}
	const forged = new IAMClient({
		...emu.sdkConfig,
		credentials: { accessKeyId: key.AccessKeyId, secretAccessKey: 'wrong-secret-wrong-secret-wrong-secret00' },
	});
	try {
		await assert.rejects(
			forged.send(new GetUserCommand({})),
			err => err.name === 'SignatureDoesNotMatch' && err.$metadata.httpStatusCode === 403
		);
	} finally {
		forged.destroy();
	}
});

test('an unsigned IAM request is refused', { timeout: 60000 }, async () => {
	const r = await fetch(emu.url + '/', {
		method: 'POST',
		headers: { 'content-type': 'application/x-www-form-urlencoded' },
		body: 'Action=ListUsers&Version=2010-05-08',
		signal: AbortSignal.timeout(10000),
	});
	assert.equal(r.status, 403);
	assert.match(await r.text(), /<Code>MissingAuthenticationToken<\/Code>/);
});
