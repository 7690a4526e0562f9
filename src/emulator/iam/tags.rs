//! MFA device tags: TagMFADevice, UntagMFADevice, ListMFADeviceTags.

use super::model::{IamState, MAX_TAGS};
use super::wire::{
    NS, no_such_device, page, paging, required, validate_serial, validate_tags, write_tags,
};
use crate::emulator::context::Ctx;
use crate::emulator::query::{self, Params, QueryError};

/// `TagMFADevice`.
pub fn tag_mfa_device(state: &mut IamState, p: &Params, ctx: &Ctx) -> Result<String, QueryError> {
    let action = "TagMFADevice";
    let rid = ctx.request_id.as_str();
    let serial = required(p, "SerialNumber", "serialNumber")?;
    validate_serial(serial)?;
    let tags = p.tags("Tags");
    if tags.is_empty() {
        return Err(QueryError::missing("tags"));
    }
    validate_tags(&tags)?;
    let device = state
        .devices
        .get_mut(serial)
        .ok_or_else(|| no_such_device(serial))?;
    let mut merged = device.tags.clone();
    for (k, v) in tags {
        match merged
            .iter_mut()
            .find(|(mk, _)| mk.eq_ignore_ascii_case(&k))
        {
            Some(slot) => slot.1 = v,
            None => merged.push((k, v)),
        }
    }
    if merged.len() > MAX_TAGS {
        return Err(QueryError::new(
            "LimitExceeded",
            409,
            format!("Cannot exceed quota for TagsPerMFADevice: {MAX_TAGS}"),
        ));
    }
    device.tags = merged;
    Ok(query::empty_response(action, NS, rid))
}

/// `UntagMFADevice`.
pub fn untag_mfa_device(state: &mut IamState, p: &Params, ctx: &Ctx) -> Result<String, QueryError> {
    let action = "UntagMFADevice";
    let rid = ctx.request_id.as_str();
    let serial = required(p, "SerialNumber", "serialNumber")?;
    validate_serial(serial)?;
    let keys = p.list("TagKeys");
    if keys.is_empty() {
        return Err(QueryError::missing("tagKeys"));
    }
    let device = state
        .devices
        .get_mut(serial)
        .ok_or_else(|| no_such_device(serial))?;
    device
        .tags
        .retain(|(k, _)| !keys.iter().any(|r| r.eq_ignore_ascii_case(k)));
    Ok(query::empty_response(action, NS, rid))
}

/// `ListMFADeviceTags`.
pub fn list_mfa_device_tags(
    state: &mut IamState,
    p: &Params,
    ctx: &Ctx,
) -> Result<String, QueryError> {
    let action = "ListMFADeviceTags";
    let rid = ctx.request_id.as_str();
    let serial = required(p, "SerialNumber", "serialNumber")?;
    validate_serial(serial)?;
    let pg = page(p)?;
    let device = state
        .devices
        .get(serial)
        .ok_or_else(|| no_such_device(serial))?;
    let shown: Vec<(String, String)> = device
        .tags
        .iter()
        .skip(pg.start)
        .take(pg.max)
        .cloned()
        .collect();
    let mut x = query::begin_response(action, NS);
    write_tags(&mut x, &shown);
    paging(&mut x, &pg, device.tags.len());
    Ok(query::end_response(x, action, rid))
}
