"""Cognito set-up shortcuts for the judges (boto3 only)."""

import uuid

PASSWORD = "Corr3ct-Horse!"


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def make_pool(idp, mfa="OFF", totp=True, sms=False, **kwargs):
    pool = idp.create_user_pool(PoolName=unique("pool"), **kwargs)["UserPool"]
    if mfa != "OFF" or totp or sms:
        args = {"UserPoolId": pool["Id"], "MfaConfiguration": mfa}
        if totp:
            args["SoftwareTokenMfaConfiguration"] = {"Enabled": True}
        if sms:
            args["SmsMfaConfiguration"] = {
                "SmsAuthenticationMessage": "Your code is {####}",
                "SmsConfiguration": {"SnsCallerArn": "arn:aws:iam::123456789012:role/sms"},
            }
        idp.set_user_pool_mfa_config(**args)
    return pool["Id"]


def make_client(idp, pool_id, flows=None, secret=False, **kwargs):
    if flows is None:
        flows = ["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    c = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=unique("client"),
        GenerateSecret=secret,
        ExplicitAuthFlows=flows,
        **kwargs,
    )["UserPoolClient"]
    return c["ClientId"], c.get("ClientSecret")


def make_user(idp, pool_id, username=None, password=PASSWORD, attributes=None):
    username = username or unique("user")
    idp.admin_create_user(
        UserPoolId=pool_id,
        Username=username,
        MessageAction="SUPPRESS",
        UserAttributes=attributes or [{"Name": "email", "Value": f"{username}@example.com"}],
    )
    idp.admin_set_user_password(
        UserPoolId=pool_id, Username=username, Password=password, Permanent=True
    )
    return username
