//! A scripted [`Rpc`] for the tests: records every call and answers from
//! per-method queues of canned replies (the last one repeats).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Mutex;

use super::{CallError, Rpc, Unreachable};
use crate::rpc::{Fault, Value, faults};

pub struct FakeRpc {
    pub url: String,
    calls: Mutex<Vec<(String, Vec<Value>)>>,
    replies: Mutex<HashMap<String, VecDeque<Result<Value, CallError>>>>,
}

impl FakeRpc {
    /// A daemon that answers the upcheck (`getVersion` = "3.0") and faults
    /// every method not scripted with `on`.
    pub fn new() -> FakeRpc {
        FakeRpc {
            url: "unix:///tmp/sluice.sock".to_string(),
            calls: Mutex::new(Vec::new()),
            replies: Mutex::new(HashMap::new()),
        }
    }

    /// A daemon that cannot be reached at all.
    pub fn unreachable(why: Unreachable) -> FakeRpc {
        FakeRpc::new().on_all(Err(CallError::Unreachable(why)))
    }

    fn on_all(self, reply: Result<Value, CallError>) -> FakeRpc {
        self.on("*", reply)
    }

    /// Queue a reply for `method` (`supervisor.x`); the last queued reply
    /// answers every later call.
    pub fn on(self, method: &str, reply: Result<Value, CallError>) -> FakeRpc {
        self.replies
            .lock()
            .unwrap()
            .entry(method.to_string())
            .or_default()
            .push_back(reply);
        self
    }

    /// Queue a fault for `method`.
    pub fn fault(self, method: &str, code: i32, detail: &str) -> FakeRpc {
        self.on(method, Err(CallError::Fault(Fault::new(code, detail))))
    }

    /// Every call so far, as `method(params)` with params in Debug form.
    pub fn calls(&self) -> Vec<(String, Vec<Value>)> {
        self.calls.lock().unwrap().clone()
    }

    /// The method names called so far, in order.
    pub fn methods(&self) -> Vec<String> {
        self.calls().into_iter().map(|(m, _)| m).collect()
    }

    fn answer(&self, method: &str) -> Result<Value, CallError> {
        let mut replies = self.replies.lock().unwrap();
        let queue = match replies.get_mut(method) {
            Some(q) => Some(q),
            None => replies.get_mut("*"),
        };
        match queue {
            Some(q) if q.len() > 1 => q.pop_front().unwrap(),
            Some(q) => q.front().cloned().unwrap(),
            None if method == "supervisor.getVersion" => Ok(Value::from("3.0")),
            None => Err(CallError::Fault(Fault::new(faults::UNKNOWN_METHOD, ""))),
        }
    }
}

impl Rpc for FakeRpc {
    fn server_url(&self) -> &str {
        &self.url
    }

    fn call(
        &self,
        method: &str,
        params: Vec<Value>,
    ) -> impl Future<Output = Result<Value, CallError>> + Send {
        self.calls
            .lock()
            .unwrap()
            .push((method.to_string(), params));
        let reply = self.answer(method);
        async move { reply }
    }
}

/// A process-info struct the way supervisord sends one.
pub fn info(group: &str, name: &str, state: i64, statename: &str, desc: &str, pid: i64) -> Value {
    Value::Struct(vec![
        ("name".into(), name.into()),
        ("group".into(), group.into()),
        ("description".into(), desc.into()),
        (
            "start".into(),
            Value::Int(if pid > 0 { 1_700_000_000 } else { 0 }),
        ),
        ("stop".into(), Value::Int(0)),
        ("now".into(), Value::Int(1_700_000_005)),
        ("state".into(), Value::Int(state)),
        ("statename".into(), statename.into()),
        ("spawnerr".into(), "".into()),
        ("exitstatus".into(), Value::Int(0)),
        ("logfile".into(), format!("/tmp/{name}.log").into()),
        ("stdout_logfile".into(), format!("/tmp/{name}.log").into()),
        ("stderr_logfile".into(), "".into()),
        ("pid".into(), Value::Int(pid)),
    ])
}

/// One entry of a start/stop group or all-processes reply.
pub fn outcome(group: &str, name: &str, status: i32, desc: &str) -> Value {
    Value::Struct(vec![
        ("name".into(), name.into()),
        ("group".into(), group.into()),
        ("status".into(), Value::Int(status.into())),
        ("description".into(), desc.into()),
    ])
}
