//! The server's response body: a whole buffer (XML-RPC answers, errors) or a
//! stream of chunks fed by a task (log tails), ending when the task stops.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use tokio::sync::mpsc;

/// A response body.
#[derive(Debug)]
pub enum Body {
    /// A complete body, taken when sent.
    Full(Option<Bytes>),
    /// Chunks as they come; the body ends when every sender is gone.
    Stream(mpsc::Receiver<Bytes>),
    /// A body, and something kept alive until it is sent (or dropped).
    Held { body: Box<Body>, _hold: Hold },
}

/// What a [`Body::Held`] keeps alive.
pub struct Hold {
    _kept: Box<dyn Send + Sync>,
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hold")
    }
}

impl Body {
    pub fn full(b: impl Into<Bytes>) -> Body {
        Body::Full(Some(b.into()))
    }

    pub fn empty() -> Body {
        Body::Full(None)
    }

    /// This body, keeping `what` alive until it is sent or dropped.
    pub fn holding(self, what: impl Send + Sync + 'static) -> Body {
        Body::Held {
            body: Box::new(self),
            _hold: Hold {
                _kept: Box::new(what),
            },
        }
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
            Body::Held { body, .. } => Pin::new(body.as_mut()).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Held { body, .. } => body.is_end_stream(),
            other => matches!(other, Body::Full(None)),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Stream(_) => SizeHint::default(),
            Body::Held { body, .. } => body.size_hint(),
        }
    }
}
