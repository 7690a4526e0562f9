//! Access keys: CreateAccessKey, ListAccessKeys, DeleteAccessKey (a request signed with an
//! issued key acts as its user).

use super::model::{AccessKey, IamState, MAX_ACCESS_KEYS_PER_USER};
use super::wire::{NS, page, paging, required, user_param};
use crate::emulator::context::Ctx;
use crate::emulator::crypto::{self, SecretString};
use crate::emulator::query::{self, Params, QueryError};

/// `CreateAccessKey`.
pub fn create_access_key(
    state: &mut IamState,
    p: &Params,
    ctx: &Ctx,
) -> Result<String, QueryError> {
    let action = "CreateAccessKey";
    let rid = ctx.request_id.as_str();
    let name = user_param(state, p, ctx)?;
    if state
        .access_keys
        .values()
        .filter(|k| k.user == name)
        .count()
        >= MAX_ACCESS_KEYS_PER_USER
    {
        return Err(QueryError::new(
            "LimitExceeded",
            409,
            format!("Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS_PER_USER}"),
        ));
    }
    let id = format!("AKIA{}", crypto::random_string(crypto::UPPER_ALNUM, 16));
    let secret = crypto::random_string(crypto::ALNUM, 40);
    let mut x = query::begin_response(action, NS);
    x.open("AccessKey")
        .elem("UserName", &name)
        .elem("AccessKeyId", &id)
        .elem("Status", "Active")
        .elem("SecretAccessKey", &secret)
        .elem("CreateDate", &crypto::iso8601(ctx.now))
        .close("AccessKey");
    state.access_keys.insert(
        id,
        AccessKey {
            user: name,
            secret: SecretString::new(secret),
            status: "Active".into(),
            created: ctx.now,
        },
    );
    Ok(query::end_response(x, action, rid))
}

/// `ListAccessKeys`.
pub fn list_access_keys(state: &mut IamState, p: &Params, ctx: &Ctx) -> Result<String, QueryError> {
    let action = "ListAccessKeys";
    let rid = ctx.request_id.as_str();
    let name = user_param(state, p, ctx)?;
    let pg = page(p)?;
    let keys: Vec<(&String, &AccessKey)> = state
        .access_keys
        .iter()
        .filter(|(_, k)| k.user == name)
        .collect();
    let mut x = query::begin_response(action, NS);
    x.open("AccessKeyMetadata");
    for (id, k) in keys.iter().skip(pg.start).take(pg.max) {
        x.open("member")
            .elem("UserName", &k.user)
            .elem("AccessKeyId", id)
            .elem("Status", &k.status)
            .elem("CreateDate", &crypto::iso8601(k.created))
            .close("member");
    }
    x.close("AccessKeyMetadata");
    paging(&mut x, &pg, keys.len());
    Ok(query::end_response(x, action, rid))
}

/// `DeleteAccessKey`.
pub fn delete_access_key(
    state: &mut IamState,
    p: &Params,
    ctx: &Ctx,
) -> Result<String, QueryError> {
    let action = "DeleteAccessKey";
    let rid = ctx.request_id.as_str();
    let id = required(p, "AccessKeyId", "accessKeyId")?;
    let name = user_param(state, p, ctx)?;
    match state.access_keys.get(id) {
        Some(k) if k.user == name => {
            state.access_keys.remove(id);
            Ok(query::empty_response(action, NS, rid))
        }
        _ => Err(QueryError::new(
            "NoSuchEntity",
            404,
            format!("The Access Key with id {id} cannot be found."),
        )),
    }
}
