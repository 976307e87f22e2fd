//! Both APIs in one process on two ports: auth signs with a key kept in the home directory,
//! inference verifies with its public half. Ctrl-C or SIGTERM drains both.

use std::net::SocketAddr;

use anyhow::Context;
use artifact_store::atomic;
use auth_tokens::Jwks;
use clap::Args;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::Home;

const SIGNING_KEY_FILE: &str = "auth-key.pem";
const PUBLIC_KEYS_FILE: &str = "auth-jwks.json";

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Where the auth API listens (port 0: any free port).
    #[arg(long, env = "AUTH_LISTEN", default_value = auth::DEFAULT_LISTEN)]
    pub auth_listen: SocketAddr,
    /// Where the inference API listens (port 0: any free port).
    #[arg(long, env = "INFERENCE_LISTEN", default_value = inference::DEFAULT_LISTEN)]
    pub inference_listen: SocketAddr,
    /// The admin user, created on first start.
    #[arg(long, env = "ADMIN_USERNAME", default_value = auth::DEFAULT_ADMIN_USERNAME)]
    pub admin_username: String,
    /// The admin's password when it is created (held to the policy on every start); unset: a
    /// random one, printed once.
    #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true, value_parser = service_flags::secret)]
    pub admin_password: Option<SecretString>,
}

/// Both services' arguments as `serve` runs them: each from the environment its own binary
/// reads, with the paths in `home` and the addresses and admin of `args`.
fn service_args(
    home: &Home,
    args: &ServeArgs,
) -> anyhow::Result<(auth::AuthArgs, inference::InferenceArgs)> {
    let mut auth_args = auth::AuthArgs {
        listen: args.auth_listen,
        // The home's SQLite files take no password (a PostgreSQL one is the fleet's).
        database: service_flags::DatabaseArgs {
            database_url: Some(home.path("auth.db").display().to_string().into()),
            database_password_file: None,
            ..service_flags::from_env()?
        },
        signing_key_file: Some(home.path(SIGNING_KEY_FILE)),
        admin_username: Some(args.admin_username.clone()),
        ..service_flags::from_env()?
    };
    if let Some(password) = &args.admin_password {
        auth_args.admin_password = Some(password.clone());
        auth_args.admin_password_file = None;
    }
    let inference_args = inference::InferenceArgs {
        listen: args.inference_listen,
        production_dir: home.path("production"),
        production_pointer: None,
        remote: Default::default(),
        patient_store: home.path("patients/store"),
        database: service_flags::DatabaseArgs {
            database_url: Some(home.path("predictions.db").display().to_string().into()),
            database_password_file: None,
            ..service_flags::from_env()?
        },
        jwks_url: None,
        public_key_file: Some(home.path(PUBLIC_KEYS_FILE)),
        audit_spill_file: home.path("predictions.spill.jsonl"),
        ..service_flags::from_env()?
    };
    Ok((auth_args, inference_args))
}

/// Refuses, naming the variable, a setting of either service that cannot be used: before
/// `serve` writes a key or opens a database, and before `up` runs the pipeline. That includes
/// the caps that cannot fit this machine: the open-files limit both services share, and the
/// memory inference's caps need; a first admin's password that cannot be read or is refused;
/// and a port already taken (bound, then let go: for `up`, another process could still take
/// it during the pipeline, and serving then says so).
pub fn check(home: &Home, args: &ServeArgs) -> anyhow::Result<()> {
    let (auth_args, inference_args) = service_args(home, args)?;
    let mut auth_settings = auth_args.settings()?;
    let mut inference_settings = inference_args.settings()?;
    share_descriptors(&mut auth_settings, &mut inference_settings, false)?;
    inference::footprint::check(
        inference::footprint::Footprint::of(&inference_settings),
        inference_settings.memory_limit_bytes,
    )?;
    auth::check_first_admin(&auth_settings)?;
    // Both held at once, so that the two sharing one port is found too (port 0: any).
    let _held = [
        (auth_settings.listen, "auth"),
        (inference_settings.listen, "inference"),
    ]
    .into_iter()
    .filter(|(address, _)| address.port() != 0)
    .map(|(address, service)| bind_std(address, service))
    .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(())
}

/// A descriptor budget per side, so inference at its caps cannot take auth's: each side's
/// connection cap within its share of the open-files limit (`warn`: say so when it is cut).
fn share_descriptors(
    auth_settings: &mut auth::AuthSettings,
    inference_settings: &mut inference::InferenceSettings,
    warn: bool,
) -> anyhow::Result<()> {
    let Some(limit) = crate::descriptors::open_files_limit() else {
        return Ok(());
    };
    let (auth_cap, inference_cap) = crate::descriptors::split(
        limit,
        inference_settings.monitor.max_monitor_sockets,
        auth_settings.api.limits.max_connections,
        inference_settings.server.max_connections,
    )?;
    if warn
        && (auth_cap, inference_cap)
            != (
                auth_settings.api.limits.max_connections,
                inference_settings.server.max_connections,
            )
    {
        tracing::warn!(
            limit,
            auth_cap,
            inference_cap,
            "the open-files limit is too low for both services' MAX_CONNECTIONS: \
             each side gets its share"
        );
    }
    auth_settings.api.limits.max_connections = auth_cap;
    inference_settings.server.max_connections = inference_cap;
    Ok(())
}

pub fn serve(home: &Home, args: &ServeArgs) -> anyhow::Result<()> {
    check(home, args)?;
    // Auth runs on a runtime of its own, a budget per side: inference at its caps (every
    // worker and blocking thread scoring) cannot hold auth's requests or its password
    // hashing, which run on auth's own threads.
    let auth_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(2)
        .thread_name("auth")
        .enable_all()
        .build()?;
    let served = inference::runtime()?.block_on(serve_both(home, args, auth_runtime.handle()));
    auth_runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    served
}

async fn serve_both(
    home: &Home,
    args: &ServeArgs,
    auth_runtime: &tokio::runtime::Handle,
) -> anyhow::Result<()> {
    let (auth_args, inference_args) = service_args(home, args)?;
    let mut auth_settings = auth_args.settings()?;
    let key = auth::load_or_create_signing_key(&home.path(SIGNING_KEY_FILE))?;
    let public_keys = home.path(PUBLIC_KEYS_FILE);
    atomic::write_file(
        &public_keys,
        Jwks::of(&[&key]).to_json().to_string().as_bytes(),
    )
    .with_context(|| format!("cannot write {}", public_keys.display()))?;
    let admin = auth::prepare_first_admin(&mut auth_settings).await?;
    // Bound here, served on auth's runtime (a listener belongs to the runtime that polls it).
    let auth_listener = bind_std(auth_settings.listen, "auth")?;
    let inference_listener = bind(inference_args.listen, "inference").await?;
    // Logout and user deletion reach inference through the auth service's revocation list.
    // The page at /ui/ logs in with this auth service (as a browser on this machine reaches it).
    let mut auth_seen_from_here = auth_listener.local_addr()?;
    if auth_seen_from_here.ip().is_unspecified() {
        auth_seen_from_here.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let mut inference_settings = inference::InferenceArgs {
        revocations_url: Some(format!(
            "http://{}/.well-known/revocations.json",
            auth_listener.local_addr()?
        )),
        ui_auth_url: inference_args
            .ui_auth_url
            .clone()
            .or_else(|| Some(format!("http://{auth_seen_from_here}"))),
        ..inference_args
    }
    .settings()?;
    // ... and the auth service answers that page's origin (as this machine's browser names it).
    if auth_settings.api.browser_origins.is_empty() {
        let mut page = inference_listener.local_addr()?;
        if page.ip().is_unspecified() {
            page.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        auth_settings.api.browser_origins = auth::settings::browser_origins(&[
            format!("http://{page}"),
            format!("http://localhost:{}", page.port()),
        ])?;
    }
    share_descriptors(&mut auth_settings, &mut inference_settings, true)?;
    let auth_state = auth_runtime
        .spawn(async move { auth::build_state(&auth_settings).await })
        .await??;
    let inference_state = inference::build_state(&inference_settings).await?;
    let patient = inference_state
        .patients
        .load_full()
        .and_then(|store| store.patient_ids().first().copied());
    // Ctrl-C is caught from before the banner that offers it.
    let (stop, stopped) = watch::channel(false);
    let signal = http_kit::shutdown_signal();
    tokio::spawn(async move {
        signal.await;
        let _ = stop.send(true);
    });
    print_welcome(
        auth_listener.local_addr()?,
        inference_listener.local_addr()?,
        &args.admin_username,
        &admin,
        patient,
    );

    let until_stopped = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let auth_stopped = until_stopped(stopped.clone());
    let auth_served = auth_runtime.spawn(async move {
        let listener = TcpListener::from_std(auth_listener)?;
        auth::serve(listener, auth_state, auth_stopped).await
    });
    tokio::try_join!(
        async { auth_served.await? },
        inference::serve(inference_listener, inference_state, until_stopped(stopped),),
    )?;
    println!("seizure-ops stopped");
    Ok(())
}

/// A listening socket for another runtime to serve (`TcpListener::from_std` there).
fn bind_std(address: SocketAddr, service: &str) -> anyhow::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(address).with_context(|| {
        format!("{service}: cannot listen on {address} (is it already running?)")
    })?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

async fn bind(address: SocketAddr, service: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("{service}: cannot listen on {address} (is it already running?)"))
}

fn print_welcome(
    auth: SocketAddr,
    inference: SocketAddr,
    username: &str,
    admin: &auth::FirstAdmin,
    patient: Option<u64>,
) {
    let password = match admin {
        auth::FirstAdmin::Generated(p) => {
            let p = p.expose_secret();
            println!("\ncreated admin user {username:?} with password {p} (shown only this once)");
            p
        }
        // A password the user chose stays out of the terminal (and any log of it).
        auth::FirstAdmin::Configured => {
            println!(
                "\ncreated admin user {username:?} with the configured password \
                 (ADMIN_PASSWORD or ADMIN_PASSWORD_FILE)"
            );
            "YOUR-ADMIN-PASSWORD"
        }
        auth::FirstAdmin::Exists | auth::FirstAdmin::NotConfigured => "YOUR-ADMIN-PASSWORD",
    };
    let login_body = serde_json::json!({ "username": username, "password": password }).to_string();
    let patient = patient.map_or("1".to_owned(), |id| id.to_string());
    println!(
        "\nseizure-ops is up\n  \
         auth       http://{auth}        (API docs: http://{auth}/docs)\n  \
         inference  http://{inference}        (API docs: http://{inference}/docs)\n\n\
         Try it:\n  \
         TOKEN=$(curl -s -X POST http://{auth}/login -H 'content-type: application/json' \\\n      \
         -d {body} | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')\n  \
         curl -s http://{inference}/predict/{patient} -H \"authorization: Bearer $TOKEN\"\n  \
         curl -s -X POST http://{inference}/reload-model -H \"authorization: Bearer $TOKEN\"\n\n  \
         The bedside page (log in with the same user): http://{inference}/ui/\n\n\
         Ctrl-C stops both services.",
        body = shell_quote(&login_body),
    );
}

/// Single-quotes `text` for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
