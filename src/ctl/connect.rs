//! `sluice ctl` as a program: find the server from the flags and the
//! config's `[supervisorctl]` section, connect with the XML-RPC client, run
//! one command.

use std::io::ErrorKind;
use std::path::PathBuf;

use super::{CallError, Chunks, LocalFuture, Rpc, Unreachable};
use crate::config::{self, ConfigSource};
use crate::rpc::{Client, ClientError, LogStream, Value};

/// What `sluice ctl` was given on its command line.
pub struct MainOptions {
    pub config: Option<PathBuf>,
    pub serverurl: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub args: Vec<String>,
}

/// The real transport: [`Client`] behind the [`Rpc`] trait.
struct ClientRpc(Client);

impl Rpc for ClientRpc {
    fn server_url(&self) -> &str {
        self.0.url()
    }
    async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, CallError> {
        self.0.call(method, params).await.map_err(call_error)
    }
    async fn stream(&self, path: &str) -> Option<Result<Box<dyn Chunks>, CallError>> {
        Some(match self.0.stream_get(path).await {
            Ok(body) => Ok(Box::new(Body(body)) as Box<dyn Chunks>),
            // supervisorctl's http_client wording for a refused GET.
            Err(ClientError::Http { status, .. }) => Err(CallError::Protocol(format!(
                "Cannot read, status code {status}"
            ))),
            Err(e) => Err(call_error(e)),
        })
    }
}

/// A `/logtail` body behind [`Chunks`].
struct Body(LogStream);

impl Chunks for Body {
    fn next_chunk(&mut self) -> LocalFuture<'_, Option<Result<Vec<u8>, CallError>>> {
        Box::pin(async {
            self.0
                .next_chunk()
                .await
                .map(|r| r.map(|b| b.to_vec()).map_err(call_error))
        })
    }
}

fn call_error(e: ClientError) -> CallError {
    match e {
        ClientError::Fault(f) => CallError::Fault(f),
        ClientError::Connect { error, .. } => CallError::Unreachable(match error.kind() {
            ErrorKind::ConnectionRefused => Unreachable::Refused,
            ErrorKind::NotFound => Unreachable::NoSuchFile,
            _ => Unreachable::Other(error.to_string()),
        }),
        ClientError::Unauthorized => CallError::Auth,
        other => CallError::Protocol(other.to_string()),
    }
}

/// Run `sluice ctl`; returns the exit code.
pub fn main(opts: MainOptions) -> i32 {
    // Flags win over the config file, key by key; the config is only
    // needed for what the flags leave out.
    let (mut url, mut user, mut pass) = (opts.serverurl, opts.username, opts.password);
    if url.is_none() || user.is_none() || pass.is_none() {
        let source = config::discover(opts.config.as_deref());
        match config::load_ctl(&source) {
            Ok(ctl) => {
                url = url.or(Some(ctl.serverurl));
                user = user.or(ctl.username);
                pass = pass.or(ctl.password);
            }
            // Without a config file the socket's place is known anyway.
            Err(_) if url.is_none() && matches!(source, ConfigSource::Embedded(_)) => {
                if let ConfigSource::Embedded(here) = &source {
                    url = Some(format!("unix://{}", here.join("sluice.sock").display()));
                }
            }
            Err(errors) if url.is_none() => {
                for e in &errors {
                    println!("{e}");
                }
                return super::exit::INVALID_ARGS;
            }
            Err(_) => {}
        }
    }
    let url = url.unwrap_or_default();
    let client = match Client::new(&url, user, pass) {
        Ok(c) => c,
        Err(e) => {
            println!("error: {e}");
            return super::exit::INVALID_ARGS;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            println!("error: cannot start the runtime: {e}");
            return super::exit::GENERIC;
        }
    };
    let rpc = ClientRpc(client);
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    runtime.block_on(super::run(&rpc, &opts.args, &mut out, &mut err))
}
