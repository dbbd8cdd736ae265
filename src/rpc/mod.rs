//! The control protocol: XML-RPC over HTTP on a unix socket and TCP.

pub mod answer;
pub mod auth;
mod body;
pub mod client;
pub mod listen;
pub mod server;
mod tail;
pub mod value;
pub mod xml;

pub use client::{Client, ClientError, LogStream};
pub use listen::UnixListenSpec;
pub use server::{Server, ServerConfig, bind};

pub use answer::{AnswerWriter, Reply};
pub use value::{Fault, Value, faults};

use std::future::Future;
use std::pin::Pin;

/// A boxed future returned by a dispatcher.
pub type CallFuture = Pin<Box<dyn Future<Output = Result<Value, Fault>> + Send>>;
/// A boxed future that writes an answer.
pub type AnswerFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What the HTTP server hands each XML-RPC call to (the daemon's API).
pub trait Dispatch: Send + Sync + 'static {
    /// Run one method; `Err` becomes an XML-RPC fault response.
    fn call(&self, method: String, params: Vec<Value>) -> CallFuture;
    /// Run one method and write its answer into `out` as it is made (what
    /// the server uses). By default: [`Dispatch::call`], then its result.
    fn answer(&self, method: String, params: Vec<Value>, mut out: AnswerWriter) -> AnswerFuture {
        let call = self.call(method, params);
        Box::pin(async move {
            let result = call.await.map(Reply::Value);
            out.result(result).await;
            out.finish().await;
        })
    }
    /// The log file behind `GET /logtail/<name>/<stdout|stderr>`, or behind
    /// `/mainlogtail` when `name` is `None`. `Err` is the fault to report.
    fn log_path(&self, name: Option<&str>, channel: &str) -> Result<std::path::PathBuf, Fault>;
}

pub mod api;

#[cfg(test)]
mod tests;
