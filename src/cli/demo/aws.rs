//! The AWS half of `authsim demo`: the strict stand-in on a free loopback port, set up as an
//! administrator would (a user pool with TOTP MFA and passkeys, an app client, a user, an IAM
//! user), then every client flow run as a user runs it — the `authsim` commands themselves
//! (and a daemon whose virtual key plays the security key), as child processes, each printed
//! with its output.
//!
//! The administrator's calls use the AWS SDK in process with made-up static credentials (the
//! stand-in checks that IAM and STS requests are SigV4-signed, not by whom); the flows get the
//! same credentials through the environment, with the user's own AWS config files hidden.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use aws_sdk_cognitoidentityprovider as cip;
use aws_sdk_iam as iam;
use zeroize::Zeroizing;

use super::{ok, step};

mod passkey;

/// Region of the demo's pool (the stand-in accepts any).
const REGION: &str = "us-east-1";
/// Made-up credentials: the stand-in requires a SigV4 signature, with any key.
const ACCESS_KEY: &str = "AKIAAUTHSIMDEMO00000";
const SECRET_KEY: &str = "authsim-demo-not-a-real-secret-key";
/// How long the stand-in may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The stand-in as a child process, stopped when dropped.
struct StandIn {
    child: Child,
    url: String,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Stop a child process of the demo: SIGTERM lets it save its state and close; kill if it
/// does not within 5 s.
fn stop(child: &mut Child) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Everything the flows need to know about the set-up.
struct Setup {
    pool_id: String,
    client_id: String,
    username: String,
    password: Zeroizing<String>,
    iam_user: String,
}

/// Runs the AWS flows end to end under `dir` (throw-away); prints each step.
pub(super) fn run(dir: &Path) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the authsim executable")?;
    let client_dir = dir.join("client");
    let aws_dir = dir.join("aws");
    std::fs::create_dir_all(&aws_dir).context("creating the demo's AWS config directory")?;
    for f in ["config", "credentials"] {
        std::fs::write(aws_dir.join(f), b"").context("writing an empty AWS config file")?;
    }

    step("start the strict stand-in for Cognito, IAM and STS on a free loopback port");
    let t = Instant::now();
    let standin = start_standin(&exe, &dir.join("stand-in.json"))?;
    ok(&format!(
        "listening on {} ({} ms)",
        standin.url,
        t.elapsed().as_millis()
    ));

    step(
        "as the administrator (AWS SDK): a user pool with optional TOTP MFA, passkeys (relying party localhost) and remembered devices, an app client, a user, an IAM user",
    );
    let t = Instant::now();
    let setup = admin_setup(&standin.url)?;
    ok(&format!(
        "pool {}, app client {}, user '{}', IAM user '{}' ({} ms)",
        setup.pool_id,
        setup.client_id,
        setup.username,
        setup.iam_user,
        t.elapsed().as_millis()
    ));

    let flows = Flows {
        exe,
        client_dir,
        aws_dir,
        url: standin.url.clone(),
    };
    let cognito = [
        "--endpoint-url",
        &flows.url,
        "--pool-id",
        &setup.pool_id,
        "--client-id",
        &setup.client_id,
        "--username",
        &setup.username,
    ];

    step("Cognito: sign in with SRP (no MFA yet); the tokens are kept sealed as session 'demo'");
    let mut args = vec!["cognito", "sign-in"];
    args.extend_from_slice(&cognito);
    args.extend_from_slice(&["--password-stdin", "--save", "demo"]);
    flows.run(&args, Some(&setup.password))?;

    step(
        "Cognito: enroll TOTP — AssociateSoftwareToken, secret into the vault, VerifySoftwareToken, SetUserMFAPreference, GetUser",
    );
    let t = Instant::now();
    let out = flows.run(
        &[
            "cognito",
            "enroll-totp",
            "--endpoint-url",
            &flows.url,
            "--session",
            "demo",
            "--name",
            "demo-cognito",
            "--device-name",
            "authsim-demo",
            "--preferred",
            "--json",
        ],
        None,
    )?;
    let enrolled: serde_json::Value =
        serde_json::from_str(&out).context("enroll-totp printed no JSON")?;
    ensure!(
        enrolled.to_string().contains("SOFTWARE_TOKEN_MFA"),
        "GetUser does not list SOFTWARE_TOKEN_MFA after the enrollment"
    );

    step(
        "Cognito: sign in again; the pool now asks for SOFTWARE_TOKEN_MFA, answered from the vault; this device is remembered (--remember-device)",
    );
    let mut args = vec!["cognito", "sign-in"];
    args.extend_from_slice(&cognito);
    args.extend_from_slice(&[
        "--password-stdin",
        "--totp",
        "demo-cognito",
        "--allow-next",
        "--remember-device",
        "--device-name",
        "authsim-demo",
        "--save",
        "demo",
    ]);
    flows.run(&args, Some(&setup.password))?;
    ok(&format!(
        "enroll-totp + MFA sign-in took {} ms, no code sent twice (the stand-in refuses a replay)",
        t.elapsed().as_millis()
    ));

    step(
        "Cognito: sign in with the remembered device — no code asked: DEVICE_SRP_AUTH proves the device instead",
    );
    let t = Instant::now();
    let mut args = vec!["cognito", "sign-in"];
    args.extend_from_slice(&cognito);
    args.extend_from_slice(&["--password-stdin", "--save", "demo"]);
    flows.run(&args, Some(&setup.password))?;
    ok(&format!(
        "signed in without a TOTP code in {} ms",
        t.elapsed().as_millis()
    ));

    step("Cognito: new tokens from the refresh token (REFRESH_TOKEN_AUTH)");
    flows.run(
        &[
            "cognito",
            "refresh",
            "--endpoint-url",
            &flows.url,
            "--session",
            "demo",
        ],
        None,
    )?;

    passkey::run(&flows, &setup)?;

    step(
        "IAM: enable a virtual MFA device — CreateVirtualMFADevice, seed into the vault, EnableMFADevice with two consecutive codes at once, ListMFADevices",
    );
    let t = Instant::now();
    let out = flows.run(
        &[
            "iam",
            "enable-mfa",
            "--endpoint-url",
            &flows.url,
            "--region",
            REGION,
            "--user",
            &setup.iam_user,
            "--device-name",
            "authsim-demo",
            "--totp-name",
            "demo-iam",
            "--json",
        ],
        None,
    )?;
    let enabled: serde_json::Value =
        serde_json::from_str(&out).context("enable-mfa printed no JSON")?;
    let serial = enabled["serial"]
        .as_str()
        .context("enable-mfa printed no serial")?
        .to_string();
    ok(&format!(
        "{serial} enabled in {} ms, without waiting for a second time step",
        t.elapsed().as_millis()
    ));

    step(
        "STS: GetSessionToken with a fresh code of the IAM device (EnableMFADevice spent two steps, so this may wait for the next one)",
    );
    let out = flows.run(
        &[
            "sts",
            "session",
            "--endpoint-url",
            &flows.url,
            "--region",
            REGION,
            "--serial",
            &serial,
            "--totp",
            "demo-iam",
            "--allow-next",
            "--format",
            "json",
        ],
        None,
    )?;
    let creds: serde_json::Value =
        serde_json::from_str(&out).context("sts session printed no JSON")?;
    let key_id = creds["AccessKeyId"].as_str().unwrap_or_default();
    ensure!(
        key_id.starts_with("ASIA") && creds["SessionToken"].as_str().is_some(),
        "GetSessionToken returned no temporary credentials"
    );
    ok(&format!(
        "temporary credentials {key_id}, expiring {} (secret key and session token not shown)",
        creds["Expiration"].as_str().unwrap_or("?")
    ));

    step("check as the administrator: the user's MFA settings and the IAM user's devices");
    let (mfa, devices) = admin_check(&standin.url, &setup, &serial)?;
    ok(&format!(
        "AdminGetUser: UserMFASettingList {mfa:?}; ListMFADevices: {devices:?}"
    ));
    drop(standin);
    Ok(())
}

/// Starts `authsim emulator` on 127.0.0.1:0 and reads the address it prints.
fn start_standin(exe: &Path, state: &Path) -> Result<StandIn> {
    let mut child = Command::new(exe)
        .args(["emulator", "--listen", "127.0.0.1:0", "--state"])
        .arg(state)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start the stand-in (authsim emulator)")?;
    let stdout = child
        .stdout
        .take()
        .context("the stand-in's output is not readable")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let mut standin = StandIn {
        child,
        url: String::new(),
    };
    let line = rx
        .recv_timeout(START_TIMEOUT)
        .context("the stand-in did not say where it listens")?;
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .with_context(|| format!("unexpected first line from the stand-in: {line:?}"))?;
    standin.url = format!("http://{addr}");
    Ok(standin)
}

/// The administrator's SDK configuration for the stand-in.
fn admin_config(url: &str) -> (cip::Config, iam::Config) {
    let creds = cip::config::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "authsim-demo");
    let c = cip::Config::builder()
        .behavior_version(cip::config::BehaviorVersion::latest())
        .region(cip::config::Region::new(REGION))
        .endpoint_url(url)
        .credentials_provider(creds.clone())
        .build();
    let i = iam::Config::builder()
        .behavior_version(iam::config::BehaviorVersion::latest())
        .region(iam::config::Region::new(REGION))
        .endpoint_url(url)
        .credentials_provider(creds)
        .build();
    (c, i)
}

fn block_on<T>(fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(fut)
}

/// A display of an SDK error without the request (its Display chain).
fn sdk_err(op: &str, e: impl std::error::Error) -> anyhow::Error {
    let mut msg = format!("{op} failed: {e}");
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    anyhow::anyhow!(msg)
}

fn admin_setup(url: &str) -> Result<Setup> {
    let (cconf, iconf) = admin_config(url);
    let idp = cip::Client::from_conf(cconf);
    let iam = iam::Client::from_conf(iconf);
    let mut rnd = [0u8; 9];
    getrandom::fill(&mut rnd).map_err(|e| anyhow::anyhow!("system random source: {e}"))?;
    // Meets every default password rule: upper, lower, digit, symbol, length ≥ 8.
    let password = Zeroizing::new(format!("Demo-{}-Pw1!", hex::encode(rnd)));
    block_on(async {
        let pool = idp
            .create_user_pool()
            .pool_name("authsim-demo")
            // Passkeys need the ESSENTIALS tier and WEB_AUTHN among the first factors.
            .user_pool_tier(cip::types::UserPoolTierType::Essentials)
            .policies(
                cip::types::UserPoolPolicyType::builder()
                    .sign_in_policy(
                        cip::types::SignInPolicyType::builder()
                            .allowed_first_auth_factors(cip::types::AuthFactorType::Password)
                            .allowed_first_auth_factors(cip::types::AuthFactorType::WebAuthn)
                            .build(),
                    )
                    .build(),
            )
            .device_configuration(
                cip::types::DeviceConfigurationType::builder()
                    .challenge_required_on_new_device(true)
                    .device_only_remembered_on_user_prompt(true)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_err("CreateUserPool", e))?;
        let pool_id = pool
            .user_pool()
            .and_then(|p| p.id())
            .context("CreateUserPool returned no pool id")?
            .to_string();
        idp.set_user_pool_mfa_config()
            .user_pool_id(&pool_id)
            .mfa_configuration(cip::types::UserPoolMfaType::Optional)
            .software_token_mfa_configuration(
                cip::types::SoftwareTokenMfaConfigType::builder()
                    .enabled(true)
                    .build(),
            )
            .web_authn_configuration(
                cip::types::WebAuthnConfigurationType::builder()
                    .relying_party_id("localhost")
                    .user_verification(cip::types::UserVerificationType::Preferred)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_err("SetUserPoolMfaConfig", e))?;
        let client = idp
            .create_user_pool_client()
            .user_pool_id(&pool_id)
            .client_name("authsim-demo")
            .generate_secret(false)
            .explicit_auth_flows(cip::types::ExplicitAuthFlowsType::AllowUserSrpAuth)
            .explicit_auth_flows(cip::types::ExplicitAuthFlowsType::AllowRefreshTokenAuth)
            .explicit_auth_flows(cip::types::ExplicitAuthFlowsType::AllowUserAuth)
            .send()
            .await
            .map_err(|e| sdk_err("CreateUserPoolClient", e))?;
        let client_id = client
            .user_pool_client()
            .and_then(|c| c.client_id())
            .context("CreateUserPoolClient returned no client id")?
            .to_string();
        let username = "demo-user".to_string();
        idp.admin_create_user()
            .user_pool_id(&pool_id)
            .username(&username)
            .message_action(cip::types::MessageActionType::Suppress)
            .send()
            .await
            .map_err(|e| sdk_err("AdminCreateUser", e))?;
        idp.admin_set_user_password()
            .user_pool_id(&pool_id)
            .username(&username)
            .password(password.as_str())
            .permanent(true)
            .send()
            .await
            .map_err(|e| sdk_err("AdminSetUserPassword", e))?;
        let iam_user = "demo-iam-user".to_string();
        iam.create_user()
            .user_name(&iam_user)
            .send()
            .await
            .map_err(|e| sdk_err("CreateUser", e))?;
        Ok(Setup {
            pool_id,
            client_id,
            username,
            password,
            iam_user,
        })
    })
}

fn admin_check(url: &str, setup: &Setup, serial: &str) -> Result<(Vec<String>, Vec<String>)> {
    let (cconf, iconf) = admin_config(url);
    let idp = cip::Client::from_conf(cconf);
    let iam = iam::Client::from_conf(iconf);
    block_on(async {
        let user = idp
            .admin_get_user()
            .user_pool_id(&setup.pool_id)
            .username(&setup.username)
            .send()
            .await
            .map_err(|e| sdk_err("AdminGetUser", e))?;
        let mfa = user.user_mfa_setting_list().to_vec();
        ensure!(
            mfa.iter().any(|m| m == "SOFTWARE_TOKEN_MFA"),
            "the user has no SOFTWARE_TOKEN_MFA: {mfa:?}"
        );
        let devices = iam
            .list_mfa_devices()
            .user_name(&setup.iam_user)
            .send()
            .await
            .map_err(|e| sdk_err("ListMFADevices", e))?;
        let serials: Vec<String> = devices
            .mfa_devices()
            .iter()
            .map(|d| d.serial_number().to_string())
            .collect();
        ensure!(
            serials.iter().any(|s| s == serial),
            "ListMFADevices does not show {serial}: {serials:?}"
        );
        Ok((mfa, serials))
    })
}

/// Runs `authsim` commands as a user would, against the stand-in.
struct Flows {
    exe: PathBuf,
    client_dir: PathBuf,
    aws_dir: PathBuf,
    url: String,
}

impl Flows {
    /// `authsim ARGS` in the user's environment: the client's state directory, the made-up
    /// credentials, the user's own AWS configuration hidden.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.exe);
        c.args(args)
            .env(crate::paths::STATE_DIR_ENV, &self.client_dir)
            .env("AUTHSIM_KEYRING", "off")
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", REGION)
            .env("AWS_CONFIG_FILE", self.aws_dir.join("config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.aws_dir.join("credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_ENDPOINT_URL");
        c
    }

    /// Runs one command (printed first), streams its messages indented, and returns its
    /// standard output; `stdin` is the password line, never shown.
    fn run(&self, args: &[&str], stdin: Option<&Zeroizing<String>>) -> Result<String> {
        println!("    $ authsim {}", args.join(" "));
        let _ = std::io::stdout().flush();
        let t = Instant::now();
        let mut child = self
            .command(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run authsim {}", args.join(" ")))?;
        if let (Some(line), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(line.as_bytes())
                .and_then(|()| pipe.write_all(b"\n"))
                .context("writing the password to the command")?;
        }
        // Messages (progress, waits, outcomes) as they come; they hold no secrets.
        let stderr = child.stderr.take();
        let echo = std::thread::spawn(move || {
            if let Some(e) = stderr {
                for line in BufReader::new(e).lines().map_while(|l| l.ok()) {
                    println!("    | {line}");
                }
            }
        });
        let out = child
            .wait_with_output()
            .context("waiting for the command")?;
        let _ = echo.join();
        if !out.status.success() {
            bail!(
                "authsim {} failed ({})",
                args.first().copied().unwrap_or_default(),
                out.status
            );
        }
        ok(&format!("done in {} ms", t.elapsed().as_millis()));
        String::from_utf8(out.stdout).context("the command printed something other than text")
    }
}
