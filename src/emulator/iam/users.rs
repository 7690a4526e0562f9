//! IAM users: CreateUser, GetUser, DeleteUser, ListUsers.

use super::model::{Caller, IamState, IamUser, MAX_TAGS, no_such_user};
use super::wire::{
    NS, page, paging, required, validate_name, validate_path, validate_tags, write_user,
};
use crate::emulator::ACCOUNT_ID;
use crate::emulator::context::Ctx;
use crate::emulator::crypto;
use crate::emulator::query::{self, Params, QueryError};

/// `CreateUser`.
pub fn create_user(state: &mut IamState, p: &Params, ctx: &Ctx) -> Result<String, QueryError> {
    let action = "CreateUser";
    let rid = ctx.request_id.as_str();
    let name = required(p, "UserName", "userName")?;
    validate_name("userName", name, 64)?;
    let path = p.get("Path").unwrap_or("/");
    validate_path(path)?;
    let tags = p.tags("Tags");
    validate_tags(&tags)?;
    if tags.len() > MAX_TAGS {
        return Err(QueryError::new(
            "LimitExceeded",
            409,
            format!("Cannot exceed quota for TagsPerUser: {MAX_TAGS}"),
        ));
    }
    if state.user_key(name).is_some() {
        return Err(QueryError::new(
            "EntityAlreadyExists",
            409,
            format!("User with name {name} already exists."),
        ));
    }
    let u = IamUser::new(name, path, ctx.now, tags);
    let mut x = query::begin_response(action, NS);
    write_user(&mut x, "User", &u);
    state.users.insert(name.to_owned(), u);
    Ok(query::end_response(x, action, rid))
}

/// `GetUser`.
pub fn get_user(state: &mut IamState, p: &Params, ctx: &Ctx) -> Result<String, QueryError> {
    let action = "GetUser";
    let rid = ctx.request_id.as_str();
    let mut x = query::begin_response(action, NS);
    match p.get("UserName") {
        Some(name) => {
            validate_name("userName", name, 128)?;
            write_user(&mut x, "User", state.user(name)?);
        }
        None => match state.caller(ctx.access_key_id()) {
            Caller::User(name) => write_user(&mut x, "User", state.user(&name)?),
            Caller::Root => {
                x.open("User")
                    .elem("UserId", ACCOUNT_ID)
                    .elem("Arn", &format!("arn:aws:iam::{ACCOUNT_ID}:root"))
                    .elem("CreateDate", &crypto::iso8601(0.0))
                    .close("User");
            }
        },
    }
    Ok(query::end_response(x, action, rid))
}

/// `DeleteUser`.
pub fn delete_user(state: &mut IamState, p: &Params, ctx: &Ctx) -> Result<String, QueryError> {
    let action = "DeleteUser";
    let rid = ctx.request_id.as_str();
    let name = required(p, "UserName", "userName")?;
    validate_name("userName", name, 128)?;
    let key = state.user_key(name).ok_or_else(|| no_such_user(name))?;
    if !state.devices_of(&key).is_empty() {
        return Err(QueryError::new(
            "DeleteConflict",
            409,
            "Cannot delete entity, must delete MFA device first.",
        ));
    }
    if state.access_keys.values().any(|k| k.user == key) {
        return Err(QueryError::new(
            "DeleteConflict",
            409,
            "Cannot delete entity, must delete access keys first.",
        ));
    }
    state.users.remove(&key);
    Ok(query::empty_response(action, NS, rid))
}

/// `ListUsers`.
pub fn list_users(state: &mut IamState, p: &Params, ctx: &Ctx) -> Result<String, QueryError> {
    let action = "ListUsers";
    let rid = ctx.request_id.as_str();
    let prefix = p.get("PathPrefix").unwrap_or("/");
    let pg = page(p)?;
    let users: Vec<&IamUser> = state
        .users
        .values()
        .filter(|u| u.path.starts_with(prefix))
        .collect();
    let mut x = query::begin_response(action, NS);
    x.open("Users");
    for u in users.iter().skip(pg.start).take(pg.max) {
        write_user(&mut x, "member", u);
    }
    x.close("Users");
    paging(&mut x, &pg, users.len());
    Ok(query::end_response(x, action, rid))
}
