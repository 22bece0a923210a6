//! Delivers each part of a multipart subscription (Apollo Client's protocol)
//! the moment it is written. Hive Router writes a part's delimiter before the
//! part rather than after it, and multipart readers hand a part on only once
//! they see the delimiter that closes it: each update would reach the client
//! when the next one (or a heartbeat, ten seconds on) does. This plugin
//! writes the next delimiter right after each part, and drops the router's
//! own when it comes.

use std::collections::VecDeque;
use std::error::Error;
use std::rc::Rc;
use std::task::{Context, Poll};

use hive_router::async_trait;
use hive_router::ntex::http::body::{Body, BodySize, MessageBody, ResponseBody};
use hive_router::ntex::util::Bytes;
use hive_router::plugins::hooks::on_http_request::{OnHttpRequestHookFuture, OnHttpRequestHookPayload};
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::plugin_trait::{EndHookPayload, RouterPlugin, StartHookPayload};
use serde::Deserialize;

/// How the router opens a part, closes one (with the next opening), and ends the stream.
const OPENING: &[u8] = b"--graphql\r\nContent-Type: application/json\r\n\r\n";
const CLOSING: &[u8] = b"\r\n";
const HEARTBEAT: &[u8] = b"{}\r\n";
const END: &[u8] = b"--graphql--";

#[derive(Deserialize)]
pub struct MultipartConfig {}

pub struct Multipart;

#[async_trait]
impl RouterPlugin for Multipart {
    type Config = MultipartConfig;

    fn plugin_name() -> &'static str {
        "multipart"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        payload.initialize_plugin(Multipart)
    }

    fn on_http_request<'req>(&'req self, payload: OnHttpRequestHookPayload<'req>) -> OnHttpRequestHookFuture<'req> {
        Box::pin(async move {
            payload.on_end(|answered| {
                answered
                    .map_response(|response| {
                        let apollo_multipart = response
                            .headers()
                            .get("content-type")
                            .and_then(|value| value.to_str().ok())
                            .is_some_and(|value| value.starts_with("multipart/mixed") && value.contains("subscriptionSpec"));
                        if !apollo_multipart {
                            return response;
                        }
                        response.map_body(|_, body| ResponseBody::Other(Body::from_message(PartsAtOnce::new(body))))
                    })
                    .proceed()
            })
        })
    }
}

/// The router's multipart body, with each part closed as soon as it is written.
struct PartsAtOnce {
    inner: ResponseBody<Body>,
    /// Chunks to write before reading more.
    queued: VecDeque<Bytes>,
    /// We opened the next part already: the router's own opening is dropped.
    opened_ahead: bool,
}

impl PartsAtOnce {
    fn new(inner: ResponseBody<Body>) -> Self {
        PartsAtOnce { inner, queued: VecDeque::new(), opened_ahead: false }
    }

    /// What to write for one chunk of the router's.
    fn rewrite(&mut self, chunk: Bytes) {
        match &chunk[..] {
            OPENING if self.opened_ahead => self.opened_ahead = false,
            CLOSING | HEARTBEAT => {
                self.queued.push_back(chunk);
                self.queued.push_back(Bytes::from_static(OPENING));
                self.opened_ahead = true;
            }
            END if self.opened_ahead => {
                // The part we opened ahead gets an empty result, which clients take for a heartbeat.
                self.queued.push_back(Bytes::from_static(HEARTBEAT));
                self.queued.push_back(chunk);
                self.opened_ahead = false;
            }
            _ => self.queued.push_back(chunk),
        }
    }
}

impl MessageBody for PartsAtOnce {
    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Rc<dyn Error>>>> {
        loop {
            if let Some(chunk) = self.queued.pop_front() {
                return Poll::Ready(Some(Ok(chunk)));
            }
            match self.inner.poll_next_chunk(cx) {
                Poll::Ready(Some(Ok(chunk))) => self.rewrite(chunk),
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(chunks: &[&'static [u8]]) -> String {
        let mut parts = PartsAtOnce::new(ResponseBody::Other(Body::Empty));
        for chunk in chunks {
            parts.rewrite(Bytes::from_static(chunk));
        }
        parts.queued.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect()
    }

    #[test]
    fn each_part_is_closed_as_soon_as_it_is_written() {
        let first = rewritten(&[OPENING, b"{\"payload\":1}", CLOSING]);
        assert!(first.ends_with("{\"payload\":1}\r\n--graphql\r\nContent-Type: application/json\r\n\r\n"), "{first:?}");
        let whole = rewritten(&[OPENING, b"{\"payload\":1}", CLOSING, OPENING, b"{\"payload\":2}", CLOSING, END]);
        let expected = "--graphql\r\nContent-Type: application/json\r\n\r\n{\"payload\":1}\r\n\
                        --graphql\r\nContent-Type: application/json\r\n\r\n{\"payload\":2}\r\n\
                        --graphql\r\nContent-Type: application/json\r\n\r\n{}\r\n--graphql--";
        assert_eq!(whole, expected, "the router's own openings are dropped; the last part opened ahead ends empty");
    }
}
