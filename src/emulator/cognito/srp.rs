//! Server-side SRP-6a as Cognito runs it for `USER_SRP_AUTH`.
//!
//! The group is the 3072-bit MODP group of RFC 3526 with g = 2; `k = H(N | g)`; every
//! number is hashed in its minimal two's-complement big-endian form (a leading zero byte
//! when the top bit is set); `x = H(salt | H(poolName | userId | ":" | password))`;
//! `u = H(A | B)`; the session key is 16 bytes of HKDF-SHA256 with salt `u`, input `S`
//! and info "Caldera Derived Key"; the client's claim is
//! `HMAC-SHA256(key, poolName | userId | secretBlock | timestamp)` where the timestamp is
//! written like "Tue Nov 3 12:00:00 UTC 2026" (unpadded day).

use std::sync::LazyLock;

use aws_lc_rs::hkdf;
use num_bigint::BigUint;

use crate::emulator::crypto;

const N_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD",
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F",
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510",
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C",
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
);

/// The info string of Cognito's HKDF.
const INFO: &[u8] = b"Caldera Derived Key";

/// The SRP group and multiplier.
struct Group {
    n: BigUint,
    g: BigUint,
    k: BigUint,
}

static GROUP: LazyLock<Group> = LazyLock::new(|| {
    // The constant is valid hex; an empty number would only make every proof fail.
    let n = BigUint::parse_bytes(N_HEX.as_bytes(), 16).unwrap_or_default();
    let g = BigUint::from(2u32);
    let k = BigUint::from_bytes_be(&sha256_cat(&[&pad(&n), &pad(&g)]));
    Group { n, g, k }
});

/// Minimal big-endian two's-complement bytes of a non-negative number, as Cognito hashes it.
pub fn pad(v: &BigUint) -> Vec<u8> {
    let mut b = v.to_bytes_be();
    if b.first().is_some_and(|&x| x & 0x80 != 0) {
        b.insert(0, 0);
    }
    b
}

fn sha256_cat(parts: &[&[u8]]) -> [u8; 32] {
    let mut all = Vec::new();
    for p in parts {
        all.extend_from_slice(p);
    }
    crypto::sha256(&all)
}

/// Lower-case hex without leading zeros (how SALT and SRP_B are sent).
pub fn to_hex(v: &BigUint) -> String {
    v.to_str_radix(16)
}

/// Parse a hex number as clients send SRP_A; `None` if empty or not hex.
pub fn from_hex(s: &str) -> Option<BigUint> {
    if s.is_empty() || s.len() > 2048 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    BigUint::parse_bytes(s.as_bytes(), 16)
}

/// The private key `x` for a user's password.
fn private_x(pool_name: &str, user_id: &str, password: &str, salt: &BigUint) -> BigUint {
    let inner = sha256_cat(&[
        pool_name.as_bytes(),
        user_id.as_bytes(),
        b":",
        password.as_bytes(),
    ]);
    BigUint::from_bytes_be(&sha256_cat(&[&pad(salt), &inner]))
}

/// A fresh random salt (128 bits, never with leading zero hex digits lost).
pub fn new_salt() -> BigUint {
    let mut bytes = crypto::random_bytes(16);
    bytes[0] |= 0x10;
    BigUint::from_bytes_be(&bytes)
}

/// The verifier `v = g^x mod N` stored instead of the password.
pub fn verifier(pool_name: &str, user_id: &str, password: &str, salt: &BigUint) -> BigUint {
    let g = &*GROUP;
    g.g.modpow(&private_x(pool_name, user_id, password, salt), &g.n)
}

/// The server's half of one exchange: secret `b` and public `B = k*v + g^b mod N`.
pub struct ServerHalf {
    /// The secret exponent.
    pub b: BigUint,
    /// The public value sent as SRP_B.
    pub big_b: BigUint,
}

impl std::fmt::Debug for ServerHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerHalf(<redacted>)")
    }
}

/// Start an exchange for verifier `v`.
pub fn server_half(v: &BigUint) -> ServerHalf {
    let g = &*GROUP;
    loop {
        let b = BigUint::from_bytes_be(&crypto::random_bytes(32));
        let big_b = (&g.k * v + g.g.modpow(&b, &g.n)) % &g.n;
        if big_b != BigUint::ZERO {
            return ServerHalf { b, big_b };
        }
    }
}

/// Whether a client's A is acceptable (A mod N must not be zero).
pub fn valid_client_public(a: &BigUint) -> bool {
    a % &GROUP.n != BigUint::ZERO
}

/// The 16-byte session key both sides derive; `None` if A or u is degenerate.
pub fn session_key(a: &BigUint, half: &ServerHalf, v: &BigUint) -> Option<[u8; 16]> {
    let g = &*GROUP;
    if !valid_client_public(a) {
        return None;
    }
    let u = BigUint::from_bytes_be(&sha256_cat(&[&pad(a), &pad(&half.big_b)]));
    if u == BigUint::ZERO {
        return None;
    }
    let s = ((a * v.modpow(&u, &g.n)) % &g.n).modpow(&half.b, &g.n);
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, &pad(&u));
    let prk = salt.extract(&pad(&s));
    let mut out = [0u8; 16];
    prk.expand(&[INFO], Len16).ok()?.fill(&mut out).ok()?;
    Some(out)
}

struct Len16;

impl hkdf::KeyType for Len16 {
    fn len(&self) -> usize {
        16
    }
}

/// The expected PASSWORD_CLAIM_SIGNATURE (raw bytes) for a canonical timestamp.
pub fn claim(
    key: &[u8; 16],
    pool_name: &str,
    user_id: &str,
    secret_block: &[u8],
    timestamp: &str,
) -> [u8; 32] {
    let mut msg = Vec::new();
    msg.extend_from_slice(pool_name.as_bytes());
    msg.extend_from_slice(user_id.as_bytes());
    msg.extend_from_slice(secret_block);
    msg.extend_from_slice(timestamp.as_bytes());
    crypto::hmac_sha256(key, &msg)
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Cognito's timestamp for Unix time `secs`: "Tue Nov 3 12:00:00 UTC 2026".
pub fn format_timestamp(secs: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{} {} {} {:02}:{:02}:{:02} UTC {}",
        WEEKDAYS[t.weekday().number_days_from_monday() as usize],
        MONTHS[usize::from(u8::from(t.month())) - 1],
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.year()
    )
}

/// Read a TIMESTAMP the way a `EEE MMM d HH:mm:ss z yyyy` parser does (English names,
/// UTC or GMT zone). Returns Unix seconds. The caller re-formats it canonically before
/// checking the signature, so a zero-padded day or a wrong weekday parses but cannot match.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split(' ').collect();
    let [wd, mon, day, hms, zone, year] = parts.as_slice() else {
        return None;
    };
    if !WEEKDAYS.contains(wd) || !matches!(*zone, "UTC" | "GMT") {
        return None;
    }
    let month_idx = MONTHS.iter().position(|m| m == mon)?;
    let num = |s: &str, min: usize, max: usize| -> Option<u32> {
        if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let day = num(day, 1, 2)?;
    let year = num(year, 4, 4)?;
    let hms: Vec<&str> = hms.split(':').collect();
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    let (h, m, sec) = (num(h, 2, 2)?, num(m, 2, 2)?, num(sec, 2, 2)?);
    let month = time::Month::try_from(u8::try_from(month_idx + 1).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?)
            .ok()?;
    let tm = time::Time::from_hms(
        u8::try_from(h).ok()?,
        u8::try_from(m).ok()?,
        u8::try_from(sec).ok()?,
    )
    .ok()?;
    Some(
        time::PrimitiveDateTime::new(date, tm)
            .assume_utc()
            .unix_timestamp(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client written from the published description (as pycognito and
    /// amazon-cognito-identity-js compute it), independent of the server functions above
    /// except for the shared group constant.
    struct Client {
        a: BigUint,
        big_a: BigUint,
    }

    impl Client {
        fn new() -> Self {
            let g = &*GROUP;
            let a = BigUint::from_bytes_be(&crypto::random_bytes(128));
            let big_a = g.g.modpow(&a, &g.n);
            Client { a, big_a }
        }

        fn key(&self, pool: &str, user: &str, pw: &str, salt_hex: &str, b_hex: &str) -> [u8; 16] {
            let g = &*GROUP;
            let big_b = BigUint::parse_bytes(b_hex.as_bytes(), 16).expect("B");
            let salt = BigUint::parse_bytes(salt_hex.as_bytes(), 16).expect("salt");
            let u =
                BigUint::from_bytes_be(&crypto::sha256(&[pad(&self.big_a), pad(&big_b)].concat()));
            let inner = crypto::sha256(format!("{pool}{user}:{pw}").as_bytes());
            let x = BigUint::from_bytes_be(&crypto::sha256(&[pad(&salt), inner.to_vec()].concat()));
            let gx = g.g.modpow(&x, &g.n);
            // (B - k*g^x) mod N, kept non-negative.
            let kgx = (&g.k * gx) % &g.n;
            let base = (&big_b + &g.n - kgx) % &g.n;
            let s = base.modpow(&(&self.a + &u * &x), &g.n);
            let prk = crypto::hmac_sha256(&pad(&u), &pad(&s));
            let okm = crypto::hmac_sha256(&prk, b"Caldera Derived Key\x01");
            let mut out = [0u8; 16];
            out.copy_from_slice(&okm[..16]);
            out
        }
    }

    #[test]
    fn k_matches_the_published_value() {
        // k = H(00 | N | 02), as amazon-cognito-identity-js computes it.
        assert_eq!(
            to_hex(&GROUP.k),
            "538282c4354742d7cbbde2359fcf67f9f5b3a6b08791e5011b43b8a5b66d9ee6"
        );
    }

    #[test]
    fn client_and_server_agree() {
        let salt = new_salt();
        let v = verifier("AbCdEf123", "alice", "Passw0rd!", &salt);
        let half = server_half(&v);
        let client = Client::new();
        let server_key = session_key(&client.big_a, &half, &v).expect("key");
        let client_key = client.key(
            "AbCdEf123",
            "alice",
            "Passw0rd!",
            &to_hex(&salt),
            &to_hex(&half.big_b),
        );
        assert_eq!(server_key, client_key);
        let wrong = client.key(
            "AbCdEf123",
            "alice",
            "wrong",
            &to_hex(&salt),
            &to_hex(&half.big_b),
        );
        assert_ne!(server_key, wrong);
    }

    /// The device SRP vector that tests/py/test_aws_srp_vectors.py recomputes with pycognito.
    fn device_vector() -> serde_json::Value {
        serde_json::from_str(include_str!(
            "../../../tests/vectors/cognito_device_srp.json"
        ))
        .expect("vector")
    }

    fn field<'a>(v: &'a serde_json::Value, name: &str) -> &'a str {
        v[name].as_str().expect(name)
    }

    fn seeded(seed: &str, len: usize) -> Vec<u8> {
        crypto::sha256(seed.as_bytes())
            .iter()
            .copied()
            .cycle()
            .take(len)
            .collect()
    }

    #[test]
    fn device_verifier_matches_pycognito() {
        // A device's verifier is the user's with the device group key as the pool name and
        // the device key as the user.
        let vec = device_vector();
        let salt = from_hex(field(&vec, "salt_hex")).expect("salt");
        let v = verifier(
            field(&vec, "device_group_key"),
            field(&vec, "device_key"),
            field(&vec, "device_password"),
            &salt,
        );
        assert_eq!(hex::encode(pad(&v)), field(&vec, "verifier_hex"));
    }

    #[test]
    fn stand_in_accepts_pycognitos_device_claim() {
        // The server's half for the vector's b, A from pycognito's small a: the stand-in's key
        // and the claim it expects are pycognito's DEVICE_PASSWORD_VERIFIER answer.
        let vec = device_vector();
        let v = from_hex(field(&vec, "verifier_hex")).expect("v");
        let b = BigUint::from_bytes_be(&seeded(field(&vec, "b_seed"), 128));
        let big_b = (&GROUP.k * &v + GROUP.g.modpow(&b, &GROUP.n)) % &GROUP.n;
        assert_eq!(to_hex(&big_b), field(&vec, "srp_b_hex"));
        let half = ServerHalf { b, big_b };
        let a = from_hex(field(&vec, "srp_a_hex")).expect("A");
        let key = session_key(&a, &half, &v).expect("key");
        assert_eq!(hex::encode(key), field(&vec, "key_hex"));
        let t = vec["unix_time"].as_i64().expect("time");
        assert_eq!(format_timestamp(t), field(&vec, "timestamp"));
        let block = data_encoding::BASE64
            .decode(field(&vec, "secret_block").as_bytes())
            .expect("block");
        let expected = claim(
            &key,
            field(&vec, "device_group_key"),
            field(&vec, "device_key"),
            &block,
            field(&vec, "timestamp"),
        );
        assert_eq!(
            data_encoding::BASE64.encode(&expected),
            field(&vec, "signature")
        );
        // Another device's verifier gives another key: the claim would not match.
        let other = verifier(
            "-abcDEF123",
            field(&vec, "device_key"),
            "x",
            &from_hex("1").expect("1"),
        );
        assert_ne!(session_key(&a, &half, &other), Some(key));
    }

    #[test]
    fn degenerate_a_is_refused() {
        let v = verifier("p", "u", "pw", &new_salt());
        let half = server_half(&v);
        assert!(session_key(&BigUint::ZERO, &half, &v).is_none());
        assert!(session_key(&GROUP.n.clone(), &half, &v).is_none());
    }

    #[test]
    fn timestamps() {
        // 2026-11-03T12:00:00Z is a Tuesday.
        let t = 1_793_707_200;
        assert_eq!(format_timestamp(t), "Tue Nov 3 12:00:00 UTC 2026");
        assert_eq!(parse_timestamp("Tue Nov 3 12:00:00 UTC 2026"), Some(t));
        // A padded day parses (as Java's parser would) but formats differently.
        assert_eq!(parse_timestamp("Tue Nov 03 12:00:00 UTC 2026"), Some(t));
        assert_eq!(parse_timestamp("Tue Nov 3 12:00:00 +0000 2026"), None);
        assert_eq!(parse_timestamp("Tue 3 Nov 12:00:00 UTC 2026"), None);
        assert_eq!(parse_timestamp("Dienstag Nov 3 12:00:00 UTC 2026"), None);
        assert_eq!(parse_timestamp("Tue Nov 3 12:00 UTC 2026"), None);
        assert_eq!(parse_timestamp("Tue Nov 31 12:00:00 UTC 2026"), None);
    }
}
