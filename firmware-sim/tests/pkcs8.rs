//! PKCS#8 private keys (how WebDriver hands credentials' keys over): round trips, keys made by
//! the curve crates themselves and by the OpenSSL CLI, and keys the token must refuse.

mod common;

use common::*;
use firmware_sim::credential::Algorithm;
use firmware_sim::testing::SeededRng;
use firmware_sim::{ImportedCredential, KeyError, PrivateKey, TokenConfig};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey};

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2));
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// Throwaway test keys made with OpenSSL 3.0:
//   openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -outform DER -out k.der
//   openssl pkcs8 -topk8 -nocrypt -inform DER -in k.der -outform DER   (genpkey writes SEC1)
//   openssl genpkey -algorithm ed25519 -outform DER                      (already PKCS#8)
//   openssl pkey -inform DER -in k.der -pubout -outform DER              (the SPKI beside it)
const OPENSSL_P256_PKCS8: &str = "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420a9027d845d5439f16ba113a4adb6ea11f41b0454b0ac677212afc411d84e472ba1440342000491cf2ceca918f30055cb26b456a8ff385081a6a0ca69fa47a20ad2df77b2516a1f37b116c3b5eff77ca6379b5d2b4a1bfb7f80b89b411eea74885f11208ab2eb";
const OPENSSL_P256_SPKI: &str = "3059301306072a8648ce3d020106082a8648ce3d0301070342000491cf2ceca918f30055cb26b456a8ff385081a6a0ca69fa47a20ad2df77b2516a1f37b116c3b5eff77ca6379b5d2b4a1bfb7f80b89b411eea74885f11208ab2eb";
/// The same P-256 key in OpenSSL's traditional SEC1 ECPrivateKey form: not PKCS#8.
const OPENSSL_P256_SEC1: &str = "30770201010420a9027d845d5439f16ba113a4adb6ea11f41b0454b0ac677212afc411d84e472ba00a06082a8648ce3d030107a1440342000491cf2ceca918f30055cb26b456a8ff385081a6a0ca69fa47a20ad2df77b2516a1f37b116c3b5eff77ca6379b5d2b4a1bfb7f80b89b411eea74885f11208ab2eb";
const OPENSSL_P384_PKCS8: &str = "3081b6020100301006072a8648ce3d020106052b8104002204819e30819b02010104303b5199a60445f1c14292e9eafce34e3dd4d8d58c0d9c4a963a2475f68460da0e07908c2259429b9bae56c470c1010b64a164036200045092d49f2577ef8982aa4c14f011e1e90cf0eb39b8d2db52d17ac321db11a1910fee3bc51af5c39615c62eb75d1bde65658eb6824ae7630313aef999a1b172fdbab43721b4a650b8d0587e6c5568d772997b425575f70a2205e408422b8d8c9c";
const OPENSSL_P384_SPKI: &str = "3076301006072a8648ce3d020106052b81040022036200045092d49f2577ef8982aa4c14f011e1e90cf0eb39b8d2db52d17ac321db11a1910fee3bc51af5c39615c62eb75d1bde65658eb6824ae7630313aef999a1b172fdbab43721b4a650b8d0587e6c5568d772997b425575f70a2205e408422b8d8c9c";
const OPENSSL_ED25519_PKCS8: &str = "302e020100300506032b6570042204205203c3167424c165ef451892e1bffe8218bed6b1ce0fc08098c29b105402de69";
const OPENSSL_ED25519_SPKI: &str =
    "302a300506032b65700321004f1ca40e12d51a5cd4ef8d12c3f5aaa54cd88a7df33eca26958e2500fcec942e";
const OPENSSL_SECP256K1_PKCS8: &str = "308184020100301006072a8648ce3d020106052b8104000a046d306b020101042024318c1d0b83a4519bb6cc6c1ace8221ce72a0524d969807576d0dbb10eb9370a1440342000457981a048e27f1d708a62ea72c5a9fd69ed266db58e8e745a68bf0c84cb6b2e430c9fdd794d49e1c294a519fdda67c4fb22bc13edc970c5069b459ee59697f8f";
const OPENSSL_P521_PKCS8: &str = "3081ee020100301006072a8648ce3d020106052b810400230481d63081d302010104420056b67a312e481b148aeb75c70cf2b92e2aa2d2fd8a820a93d5a6dd31344382787ae4650dccbe0b90bcecbe0af8d213604d0ba8812365e3254ad20354d6f52cba8aa18189038186000401bd43c79583e6a122d46b5524d5ff59931a93871f47347d7a1208b7ec7b28b51d5c0c091ecbc4afed733b53cd4b2cf0e0af08c5f2dcad79b342a6837e461f0f2c56008cf6a6cd1f7ccbdafc77f03c9b216c64c9245c4fca25ad8d184aa303e79cc527028c79d321abd9205684362260a985ce3a97a71722305dab796c789e271ec65193";
const OPENSSL_X25519_PKCS8: &str = "302e020100300506032b656e04220420908621faa5d72fec01cc1b2b09ec9a86a256f89add4e28fa9d6581a248cfe154";
/// openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024, then pkcs8 -topk8.
const OPENSSL_RSA1024_PKCS8: &str = "30820277020100300d06092a864886f70d0101010500048202613082025d02010002818100a065092344014e7851df2ee3a23bd8ec99579086a6551d491eab4ad1da653c8d7cacfb83f353f992f0276f2dbb8d5eeaf4cb88f9af1472e527a057e42b96c597312f997b9839cd0bef6a646da69e55e11b5381f11832a58f28b4e049e63176c898c53350f10b418d875ddcc1555ece783087e8d7face5627e93b5ad65e775875020301000102818041495ef2cfd7884d496602fbfd29471ee73bd1443da81f8787c8496829f15338742b25258c81fdf0657867b4c1c6c57ff5ac7350ce87104d5e57d1eeba1f60c588eecbfb7d421ce9457038f0fb721f607cb815f34b712f54ec18db0eab14d311ddf0360cfc7cb558c9ae959b3513c7092344b0e6a4c4d46b05e9a9d0ea949281024100ce3c3cde0d11151e295894d1621634e315b1c004a657eb7e207a4478519a3d020cf3acfd2ef583f2c902149c5fdddb980850351c9d3c6d68e60cee6a5b6fa6dd024100c7191644ef7c7506e4f4d83c5fd54c1349883e437dfade3eade3670aadda9ca22f35ca60047a3814e6220e24eee9349f7df4a39dad3a2565f8bbcdc8ac56c279024100a33e3523c28e09fc34d803fbf4bb0523d6913b1fb31796b4e03a47a6415967ff0e87771f75232b4d6ae435b24d83cc04fc5798a2cca6ff2770293e327babd61502407868b8aa1a3827c272a78d3afe2e4e62ffbe91015a68650e7d35a134b92e143a95d8af3ae09a55de75cbb4c82b61087d48bcb25302d7be946c18907cc39578e90241009d621cdd1a6657a97dd32b609e4d0943f03bde419e1d6513dab34e713145e81ef65bbafd056e92fe7dab6d702c3c3448e752149a0b26e1cb74678421a441dae8";

/// The public key of `k`, decoded by the test from the token's COSE encoding.
fn public(k: &PrivateKey) -> PublicKey {
    PublicKey::from_cose(&k.cose_public_key().unwrap())
}

#[test]
fn every_algorithm_round_trips_through_pkcs8() {
    let mut rng = SeededRng::new(11);
    for alg in Algorithm::ALL {
        let k = PrivateKey::generate(alg, &mut rng).unwrap();
        let der = k.to_pkcs8_der().unwrap();
        let back = PrivateKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(back.algorithm(), alg);
        assert_eq!(back.to_bytes(), k.to_bytes(), "{alg:?}");
        assert_eq!(
            back.to_pkcs8_der().unwrap(),
            der,
            "{alg:?}: stable encoding"
        );
    }
}

#[test]
fn keys_encoded_by_the_curve_crates_are_accepted_and_ours_decode_there() {
    let mut rng = SeededRng::new(12);

    let k = PrivateKey::generate(Algorithm::Es256, &mut rng).unwrap();
    let theirs = p256::SecretKey::from_pkcs8_der(&k.to_pkcs8_der().unwrap()).unwrap();
    assert_eq!(theirs.to_bytes().as_slice(), &k.to_bytes()[..]);
    let der = theirs.to_pkcs8_der().unwrap();
    assert_eq!(
        PrivateKey::from_pkcs8_der(der.as_bytes())
            .unwrap()
            .to_bytes(),
        k.to_bytes()
    );

    let k = PrivateKey::generate(Algorithm::Es384, &mut rng).unwrap();
    let theirs = p384::SecretKey::from_pkcs8_der(&k.to_pkcs8_der().unwrap()).unwrap();
    assert_eq!(theirs.to_bytes().as_slice(), &k.to_bytes()[..]);
    let der = theirs.to_pkcs8_der().unwrap();
    assert_eq!(
        PrivateKey::from_pkcs8_der(der.as_bytes())
            .unwrap()
            .to_bytes(),
        k.to_bytes()
    );

    let k = PrivateKey::generate(Algorithm::EdDsa, &mut rng).unwrap();
    let theirs = ed25519_dalek::SigningKey::from_pkcs8_der(&k.to_pkcs8_der().unwrap()).unwrap();
    assert_eq!(&theirs.to_bytes()[..], &k.to_bytes()[..]);
    let der = theirs.to_pkcs8_der().unwrap();
    let back = PrivateKey::from_pkcs8_der(der.as_bytes()).unwrap();
    assert_eq!(back.algorithm(), Algorithm::EdDsa);
    assert_eq!(back.to_bytes(), k.to_bytes());
}

#[test]
fn openssl_keys_are_accepted_with_the_public_key_openssl_derived() {
    let k = PrivateKey::from_pkcs8_der(&hex(OPENSSL_P256_PKCS8)).unwrap();
    assert_eq!(k.algorithm(), Algorithm::Es256);
    let spki = p256::PublicKey::from_public_key_der(&hex(OPENSSL_P256_SPKI)).unwrap();
    let want = p256::elliptic_curve::sec1::ToSec1Point::to_sec1_point(&spki, false);
    assert_eq!(&k.p256_public_point().unwrap()[..], want.as_bytes());

    let k = PrivateKey::from_pkcs8_der(&hex(OPENSSL_P384_PKCS8)).unwrap();
    assert_eq!(k.algorithm(), Algorithm::Es384);
    let spki = p384::PublicKey::from_public_key_der(&hex(OPENSSL_P384_SPKI)).unwrap();
    match public(&k) {
        PublicKey::Es384(vk) => assert_eq!(p384::PublicKey::from(vk), spki),
        other => panic!("{other:?}"),
    }

    let k = PrivateKey::from_pkcs8_der(&hex(OPENSSL_ED25519_PKCS8)).unwrap();
    assert_eq!(k.algorithm(), Algorithm::EdDsa);
    let spki =
        ed25519_dalek::VerifyingKey::from_public_key_der(&hex(OPENSSL_ED25519_SPKI)).unwrap();
    match public(&k) {
        PublicKey::EdDsa(vk) => assert_eq!(vk, spki),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_imported_openssl_key_signs_assertions_that_verify_with_openssl_public_key() {
    let (mut token, mut env, host) = setup(TokenConfig::default());
    let cases = [
        (OPENSSL_P256_PKCS8, OPENSSL_P256_SPKI),
        (OPENSSL_ED25519_PKCS8, OPENSSL_ED25519_SPKI),
    ];
    for (i, (pkcs8, spki)) in cases.into_iter().enumerate() {
        let id = vec![0xC0 + i as u8; 16];
        let key = PrivateKey::from_pkcs8_der(&hex(pkcs8)).unwrap();
        let verifier = match key.algorithm() {
            Algorithm::Es256 => PublicKey::Es256(
                p256::ecdsa::VerifyingKey::from_public_key_der(&hex(spki)).unwrap(),
            ),
            _ => PublicKey::EdDsa(
                ed25519_dalek::VerifyingKey::from_public_key_der(&hex(spki)).unwrap(),
            ),
        };
        token
            .import_credential(
                &mut env,
                ImportedCredential {
                    id: id.clone(),
                    rp_id: "example.com".into(),
                    user: None,
                    key,
                    sign_count: 7,
                    discoverable: false,
                    options: firmware_sim::ImportOptions::default(),
                },
            )
            .unwrap();
        let ga = Ga::new("example.com").allow(&id);
        let (status, body) = host
            .ctap2(&mut token, &mut env, GA, Some(&ga.value()))
            .unwrap();
        assert_eq!(status, OK);
        assert_eq!(
            assert_signed(&body.unwrap(), &verifier, &ga.client_data_hash).sign_count,
            8
        );
    }
}

#[test]
fn other_algorithms_curves_and_garbage_are_refused_without_showing_the_key() {
    let unsupported = [
        (OPENSSL_RSA1024_PKCS8, "RSA"),
        (OPENSSL_SECP256K1_PKCS8, "secp256k1"),
        (OPENSSL_P521_PKCS8, "P-521"),
        (OPENSSL_X25519_PKCS8, "X25519"),
    ];
    for (der, name) in unsupported {
        let err = PrivateKey::from_pkcs8_der(&hex(der)).unwrap_err();
        assert!(matches!(err, KeyError::Unsupported(_)), "{name}: {err:?}");
        let msg = err.to_string();
        assert!(msg.contains(name), "{msg}");
        // The message names the algorithm, never the key bytes.
        assert!(!msg.contains(&der[der.len() - 16..]), "{msg}");
    }

    let mut truncated = hex(OPENSSL_P256_PKCS8);
    truncated.truncate(truncated.len() - 1);
    let mut wrong_curve = hex(OPENSSL_P256_PKCS8);
    // Name another curve: 1.2.840.10045.3.1.7 (P-256) becomes 1.2.840.10045.3.1.8.
    let pos = wrong_curve
        .windows(8)
        .position(|w| w == hex("2a8648ce3d030107"))
        .unwrap();
    wrong_curve[pos + 7] = 0x08;
    let mut inner_zero = hex(OPENSSL_P256_PKCS8);
    let scalar = hex("a9027d845d5439f16ba113a4adb6ea11f41b0454b0ac677212afc411d84e472b");
    let at = inner_zero.windows(32).position(|w| w == scalar).unwrap();
    inner_zero[at..at + 32].fill(0);

    let malformed: [(&str, Vec<u8>); 6] = [
        ("empty", vec![]),
        ("garbage", b"not a key at all, just some bytes".to_vec()),
        ("truncated", truncated),
        ("SEC1, not PKCS#8", hex(OPENSSL_P256_SEC1)),
        ("zero scalar", inner_zero),
        ("SPKI public key", hex(OPENSSL_P256_SPKI)),
    ];
    for (what, der) in malformed {
        let err = PrivateKey::from_pkcs8_der(&der).unwrap_err();
        assert!(matches!(err, KeyError::Malformed(_)), "{what}: {err:?}");
        assert!(!err.to_string().contains("a9027d84"), "{what}: {err}");
    }
    let err = PrivateKey::from_pkcs8_der(&wrong_curve).unwrap_err();
    assert!(matches!(err, KeyError::Unsupported(_)), "{err:?}");
    assert!(err.to_string().contains("1.2.840.10045.3.1.8"), "{err}");
}
