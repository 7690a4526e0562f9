//! Tests of the credential record codec (included by `record.rs`).

use super::*;
use crate::testing::SeededRng;

fn full_extras() -> CredentialExtras {
    CredentialExtras {
        cred_protect: Some(3),
        cred_blob: Some(vec![0xCB; 32]),
        large_blob_key: Some(Zeroizing::new([1; CRED_SECRET_LEN])),
        cred_random_with_uv: Some(Zeroizing::new([2; CRED_SECRET_LEN])),
        cred_random_without_uv: Some(Zeroizing::new([3; CRED_SECRET_LEN])),
        backup_eligible: true,
        backup_state: true,
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Records written by the version-1 encoder still read, with the fields they were written with.
#[test]
fn version_one_records_from_the_old_encoder_still_read() {
    let fixtures = include_str!("fixtures/record_v1.txt");
    let mut seen_labels = Vec::new();
    for line in fixtures
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let mut parts = line.split(' ');
        let (label, id, record) = (
            parts.next().unwrap(),
            hex(parts.next().unwrap()),
            hex(parts.next().unwrap()),
        );
        seen_labels.push(label);
        let rc = ResidentCredential::from_record(&id, &record).unwrap();
        let version = with_record(&record, |r| r.version).unwrap();
        assert_eq!(version, 1, "{label}");
        assert_eq!(rc.extras, CredentialExtras::default(), "{label}");
        assert!(
            RecordRef::read_in_place(&record).is_some(),
            "{label}: hot path"
        );
        assert_eq!(
            Fields::parse(&record).map(|f| seen(&f.as_ref())),
            with_record(&record, seen),
            "{label}"
        );
        match label {
            "MC" => {
                assert_eq!(rc.rp_id, "example.com");
                assert_eq!(rc.user.id, b"user-1");
                assert_eq!(rc.user.name.as_deref(), Some("alice"));
                assert_eq!(rc.user.display_name.as_deref(), Some("alice display"));
                assert_eq!(rc.key.algorithm(), Algorithm::Es256);
                assert!(rc.discoverable);
                assert_eq!(rc.created, 1);
            }
            "ND" => {
                assert_eq!(rc.rp_id, "imported.example");
                assert!(rc.user.id.is_empty());
                assert_eq!(rc.key.algorithm(), Algorithm::EdDsa);
                assert!(!rc.discoverable);
                assert_eq!(record_is_discoverable(&record), Ok(false));
                let expected =
                    PrivateKey::generate(Algorithm::EdDsa, &mut SeededRng::new(11)).unwrap();
                assert_eq!(rc.key.to_bytes(), expected.to_bytes());
            }
            "DI" => {
                assert_eq!(rc.rp_id, "example.org");
                assert_eq!(rc.user.id, vec![7; 64]);
                assert_eq!(rc.user.name, None);
                assert_eq!(rc.user.display_name.as_deref(), Some("Élodie"));
                assert_eq!(rc.key.algorithm(), Algorithm::Es384);
                assert_eq!(rc.created, 3);
            }
            other => panic!("unknown fixture {other}"),
        }
        // Rewritten, a record becomes version 2 with the same content.
        let again = rc.to_record();
        assert_eq!(with_record(&again, |r| r.version), Ok(FORMAT_VERSION));
        let back = ResidentCredential::from_record(&id, &again).unwrap();
        assert_eq!(back.key.to_bytes(), rc.key.to_bytes());
        assert_eq!((back.rp_id, back.user), (rc.rp_id, rc.user));
    }
    assert_eq!(seen_labels, ["MC", "ND", "DI"]);
}

#[test]
fn version_two_members_round_trip_and_are_checked() {
    let mut rng = SeededRng::new(8);
    let mut rc = ResidentCredential {
        id: vec![6; 32],
        rp_id: "example.com".into(),
        user: UserEntity::default(),
        key: PrivateKey::generate(Algorithm::Es256, &mut rng).unwrap(),
        created: 9,
        discoverable: true,
        extras: full_extras(),
    };
    let record = rc.to_record();
    assert!(RecordRef::read_in_place(&record).is_some());
    let back = ResidentCredential::from_record(&rc.id, &record).unwrap();
    assert_eq!(back.extras, rc.extras);
    // Secrets never show in Debug output.
    let shown = format!("{:?}", back.extras);
    assert!(shown.contains("large_blob_key: true"), "{shown}");

    let replace = |record: &[u8], key: u64, value: Value| {
        let mut v = cbor::decode(record).unwrap();
        if let Value::Map(entries) = &mut v {
            entries.retain(|(k, _)| *k != cbor::int(key as i64));
            entries.push((cbor::int(key as i64), value));
        }
        cbor::encode(&v)
    };
    // Damage: a credProtect level out of range, a secret of the wrong length, an unknown
    // version, version-2 members in a version-1 record.
    for bad in [
        replace(&record, field::CRED_PROTECT, cbor::int(4)),
        replace(&record, field::CRED_PROTECT, cbor::int(300)),
        replace(&record, field::LARGE_BLOB_KEY, Value::Bytes(vec![1; 31])),
        replace(&record, field::VERSION, cbor::int(3)),
        replace(&record, field::VERSION, cbor::int(1)),
        replace(&record, field::BACKUP_STATE, cbor::int(1)),
    ] {
        assert!(
            ResidentCredential::from_record(&rc.id, &bad).is_err(),
            "{bad:02X?}"
        );
        assert!(RecordInfo::from_record(&rc.id, &bad).is_err(), "{bad:02X?}");
        assert!(RecordRef::read_in_place(&bad).is_none());
    }
    rc.extras = CredentialExtras::default();
    let plain = rc.to_record();
    assert_eq!(
        ResidentCredential::from_record(&rc.id, &plain)
            .unwrap()
            .extras,
        CredentialExtras::default()
    );
}

#[test]
fn record_round_trip() {
    let mut rng = SeededRng::new(3);
    let rc = ResidentCredential {
        id: vec![9; RESIDENT_ID_LEN],
        rp_id: "example.com".into(),
        user: UserEntity {
            id: vec![1, 2, 3],
            name: Some("alice".into()),
            display_name: None,
        },
        key: PrivateKey::generate(Algorithm::EdDsa, &mut rng).unwrap(),
        created: 42,
        discoverable: true,
        extras: CredentialExtras::default(),
    };
    let back = ResidentCredential::from_record(&rc.id, &rc.to_record()).unwrap();
    assert_eq!(back.rp_id, rc.rp_id);
    assert_eq!(back.user, rc.user);
    assert_eq!(back.created, 42);
    assert_eq!(back.key.to_bytes(), rc.key.to_bytes());
    assert!(ResidentCredential::from_record(&rc.id, &[0xA0]).is_err());
    assert!(ResidentCredential::from_record(&rc.id, &[0xFF]).is_err());
}

#[test]
fn the_discoverable_field_is_written_only_when_false() {
    let mut rng = SeededRng::new(4);
    let mut rc = ResidentCredential {
        id: vec![1; 16],
        rp_id: "example.com".into(),
        user: UserEntity::default(),
        key: PrivateKey::generate(Algorithm::Es256, &mut rng).unwrap(),
        created: 1,
        discoverable: true,
        extras: CredentialExtras::default(),
    };
    // A discoverable record is exactly what the format had before field 8 existed.
    let old = rc.to_record();
    let map = cbor::decode(&old).unwrap();
    assert!(MapView::new(&map).unwrap().int_key(8).is_none());
    assert!(
        ResidentCredential::from_record(&rc.id, &old)
            .unwrap()
            .discoverable
    );
    assert!(RecordInfo::from_record(&rc.id, &old).unwrap().discoverable);

    rc.discoverable = false;
    let new = rc.to_record();
    let back = ResidentCredential::from_record(&rc.id, &new).unwrap();
    assert!(!back.discoverable);
    assert_eq!(back.key.to_bytes(), rc.key.to_bytes());
    let info = RecordInfo::from_record(&rc.id, &new).unwrap();
    assert!(!info.discoverable);
    assert_eq!(info.rp_id, "example.com");
    assert_eq!(info.created, 1);

    // A non-boolean field 8 is damage.
    let mut value = cbor::decode(&new).unwrap();
    if let Value::Map(entries) = &mut value {
        for (k, v) in entries.iter_mut() {
            if *k == cbor::int(8) {
                *v = cbor::int(0);
            }
        }
    }
    let bad = cbor::encode(&value);
    assert!(ResidentCredential::from_record(&rc.id, &bad).is_err());
    assert!(RecordInfo::from_record(&rc.id, &bad).is_err());
}

#[test]
fn record_info_checks_the_key_without_deriving_it() {
    let mut rng = SeededRng::new(5);
    for alg in Algorithm::ALL {
        let rc = ResidentCredential {
            id: vec![2; 32],
            rp_id: "example.com".into(),
            user: UserEntity::default(),
            key: PrivateKey::generate(alg, &mut rng).unwrap(),
            created: 1,
            discoverable: true,
            extras: CredentialExtras::default(),
        };
        let mut value = cbor::decode(&rc.to_record()).unwrap();
        if let Value::Map(entries) = &mut value {
            for (k, v) in entries.iter_mut() {
                if *k == cbor::int(6) {
                    *v = Value::Bytes(vec![0; alg.secret_len() - 1]);
                }
            }
        }
        let bad = cbor::encode(&value);
        assert!(RecordInfo::from_record(&rc.id, &bad).is_err(), "{alg:?}");
        assert!(
            ResidentCredential::from_record(&rc.id, &bad).is_err(),
            "{alg:?}"
        );
    }
}

#[test]
fn the_discoverable_flag_is_read_without_decoding_the_record() {
    let mut rng = SeededRng::new(6);
    for alg in Algorithm::ALL {
        for discoverable in [true, false] {
            let rc = ResidentCredential {
                id: vec![3; 32],
                rp_id: "example.com".into(),
                user: UserEntity {
                    id: vec![7; 64],
                    name: Some("n".repeat(64)),
                    display_name: Some("é".repeat(32)),
                },
                key: PrivateKey::generate(alg, &mut rng).unwrap(),
                created: u64::MAX,
                discoverable,
                extras: CredentialExtras::default(),
            };
            let record = rc.to_record();
            assert_eq!(record_is_discoverable(&record), Ok(discoverable), "{alg:?}");
            let info = RecordInfo::from_record(&rc.id, &record).unwrap();
            assert_eq!(info.discoverable, discoverable);
            // Damage the flag reader must see: cut anywhere, or a trailing byte.
            for end in 0..record.len() {
                assert!(record_is_discoverable(&record[..end]).is_err(), "{end}");
            }
            let mut longer = record.clone();
            longer.push(0);
            assert!(record_is_discoverable(&longer).is_err());
        }
    }

    // The key is not looked at: an out-of-range P-256 scalar, which a full decode refuses,
    // still counts (proof that no PrivateKey is built).
    let rc = ResidentCredential {
        id: vec![4; 32],
        rp_id: "example.com".into(),
        user: UserEntity::default(),
        key: PrivateKey::generate(Algorithm::Es256, &mut rng).unwrap(),
        created: 1,
        discoverable: false,
        extras: CredentialExtras::default(),
    };
    let mut value = cbor::decode(&rc.to_record()).unwrap();
    if let Value::Map(entries) = &mut value {
        for (k, v) in entries.iter_mut() {
            if *k == cbor::int(6) {
                *v = Value::Bytes(vec![0xFF; 32]);
            }
        }
    }
    let bad_key = cbor::encode(&value);
    assert!(RecordInfo::from_record(&rc.id, &bad_key).is_err());
    assert_eq!(record_is_discoverable(&bad_key), Ok(false));

    // Not a record: other shapes, non-integer keys, a non-boolean flag, tags, indefinite
    // lengths, lengths past the end.
    let bad: [&[u8]; 9] = [
        &[],
        &[0x80],                   // an array
        &[0xA1, 0x61, 0x61, 0xF5], // {"a": true}
        &[0xA1, 0x08, 0x00],       // {8: 0}
        &[0xA1, 0x08, 0xF6],       // {8: null}
        &[0xA1, 0x01, 0xC0, 0x00], // {1: tag 0}
        &[0xBF, 0x08, 0xF5, 0xFF], // indefinite map
        &[0xA1, 0x01, 0x5A, 0xFF, 0xFF, 0xFF, 0xFF],
        &[
            0xA1, 0x01, 0x9B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ],
    ];
    for bytes in bad {
        assert_eq!(
            record_is_discoverable(bytes),
            Err(StatusCode::Other),
            "{bytes:02X?}"
        );
    }
    // Absent means discoverable; the value of field 8 decides, wherever it is.
    assert_eq!(record_is_discoverable(&[0xA0]), Ok(true));
    assert_eq!(
        record_is_discoverable(&[0xA2, 0x08, 0xF4, 0x01, 0x61, 0x78]),
        Ok(false)
    );
}

/// Everything a reader of a record sees, owned.
type Seen = (
    (u64, String, Vec<u8>, Option<String>, Option<String>),
    (Algorithm, Vec<u8>, u64, bool),
    (
        Option<u8>,
        Option<Vec<u8>>,
        [Option<Vec<u8>>; 3],
        bool,
        bool,
    ),
);

fn seen(r: &RecordRef<'_>) -> Seen {
    let e = &r.extras;
    let owned = |s: Option<&[u8]>| s.map(<[u8]>::to_vec);
    (
        (
            r.version,
            r.rp_id.to_owned(),
            r.user_id.to_vec(),
            r.name.map(str::to_owned),
            r.display_name.map(str::to_owned),
        ),
        (r.alg, r.secret.to_vec(), r.created, r.discoverable),
        (
            e.cred_protect,
            owned(e.cred_blob),
            [
                owned(e.large_blob_key),
                owned(e.cred_random_with_uv),
                owned(e.cred_random_without_uv),
            ],
            e.backup_eligible,
            e.backup_state,
        ),
    )
}

#[test]
fn records_read_in_place_as_the_full_decoder_reads_them() {
    let mut rng = SeededRng::new(7);
    let mut records = Vec::new();
    for alg in Algorithm::ALL {
        for (discoverable, name, display_name, created) in [
            (true, None, None, 0),
            (false, Some("n".repeat(64)), Some("é".repeat(32)), u64::MAX),
            (true, Some("alice".to_owned()), None, 23),
            (false, None, Some("Bob".to_owned()), 1 << 40),
        ] {
            let rc = ResidentCredential {
                id: vec![5; 32],
                rp_id: "example.com".into(),
                user: UserEntity {
                    id: vec![7; 64],
                    name,
                    display_name,
                },
                key: PrivateKey::generate(alg, &mut rng).unwrap(),
                created,
                discoverable,
                extras: CredentialExtras::default(),
            };
            let record = rc.to_record();
            let fast = RecordRef::read_in_place(&record).expect("the form to_record writes");
            assert_eq!(seen(&fast), seen(&Fields::parse(&record).unwrap().as_ref()));
            records.push(record);
        }
    }
    // With every version-2 member.
    let mut rc = ResidentCredential::from_record(&[5; 32], &records[0]).unwrap();
    rc.extras = full_extras();
    records.push(rc.to_record());
    // Valid records in another form go to the full decoder: an unknown key, a text key.
    let mut value = cbor::decode(&records[0]).unwrap();
    if let Value::Map(entries) = &mut value {
        entries.push((cbor::int(99), Value::Null));
        entries.push((Value::Text("x".into()), cbor::int(1)));
    }
    let other = cbor::encode(&value);
    assert!(RecordRef::read_in_place(&other).is_none());
    assert_eq!(
        with_record(&other, seen).unwrap(),
        with_record(&records[0], seen).unwrap()
    );
    records.push(other);

    // Differential: every truncation, every one-byte change and every extra byte is accepted
    // or refused by both paths alike, with the same fields.
    for record in &records {
        let mut variants = Vec::new();
        for end in 0..record.len() {
            variants.push(record[..end].to_vec());
        }
        for i in 0..record.len() {
            for x in [0x01, 0x20, 0x80, 0xFF, 0x1F] {
                let mut v = record.clone();
                v[i] ^= x;
                variants.push(v);
            }
        }
        let mut longer = record.clone();
        longer.push(0);
        variants.push(longer);
        for v in variants {
            let full = Fields::parse(&v).map(|f| seen(&f.as_ref()));
            assert_eq!(with_record(&v, seen), full, "{v:02X?}");
            if let Some(fast) = RecordRef::read_in_place(&v) {
                assert_eq!(Ok(seen(&fast)), full, "{v:02X?}");
            }
        }
    }
}
