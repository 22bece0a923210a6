//! GraphQL over HTTP (https://graphql.github.io/graphql-over-http/), as a
//! subgraph speaks it to any gateway or client: queries by GET or POST,
//! mutations by POST only, a JSON body with `application/json`, and an answer
//! in the media type the caller accepts (`application/graphql-response+json`
//! or `application/json`). A subscription streams multipart parts to a
//! caller that accepts `multipart/mixed` (the router does).

use std::convert::Infallible;

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationDefinition, OperationType};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};

/// The media types of a single answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// `application/graphql-response+json`: request errors are 4xx, without `data`.
    GraphqlResponse,
    /// `application/json`: every GraphQL answer is 200.
    Json,
}

/// What a caller's Accept header allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The media type for a single answer, None when it accepts neither.
    pub answer: Option<Answer>,
    /// Whether it accepts a multipart stream (a subscription).
    pub multipart: bool,
}

/// Reads an Accept header: the highest-weighted of the types we speak, the
/// first listed on a tie; none means `application/json`.
pub fn accepted(accept: Option<&str>) -> Accepted {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Accepted { answer: Some(Answer::Json), multipart: false };
    };
    let mut best: Option<(f32, Answer)> = None;
    let mut multipart = false;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let quality = parts.find_map(|p| p.strip_prefix("q=")).and_then(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
        if quality <= 0.0 {
            continue;
        }
        let answer = match media.as_str() {
            "application/graphql-response+json" => Some(Answer::GraphqlResponse),
            "application/json" | "application/*" | "*/*" => Some(Answer::Json),
            "multipart/mixed" => {
                multipart = true;
                None
            }
            _ => None,
        };
        if let Some(answer) = answer
            && best.is_none_or(|(q, _)| quality > q)
        {
            best = Some((quality, answer));
        }
    }
    Accepted { answer: best.map(|(_, answer)| answer), multipart }
}

/// A request refused before GraphQL sees it.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "errors": [{ "message": self.message, "extensions": { "code": "BAD_REQUEST" } }] });
        let mut response = (self.status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
        }
        response
    }
}

fn refusal(status: StatusCode, message: impl Into<String>) -> Refusal {
    Refusal { status, message: message.into() }
}

/// The GraphQL request of an HTTP request: GET parameters, or a POST body in
/// JSON. (Its method is checked against its operation by `check_method`,
/// once the document is parsed.)
pub fn read_request(method: &Method, headers: &HeaderMap, uri: &Uri, body: &Bytes) -> Result<async_graphql::Request, Refusal> {
    let request = match *method {
        Method::GET => async_graphql::http::parse_query_string(uri.query().unwrap_or_default())
            .map_err(|e| refusal(StatusCode::BAD_REQUEST, format!("the query string is not a GraphQL request: {e}")))?,
        Method::POST => {
            let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
            let media = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
            if media != "application/json" && media != "application/graphql-response+json" {
                return Err(refusal(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the request as JSON, with content-type application/json"));
            }
            serde_json::from_slice::<async_graphql::Request>(body)
                .map_err(|_| refusal(StatusCode::BAD_REQUEST, "the body is not a GraphQL request in JSON (one object with a `query` string)"))?
        }
        _ => return Err(refusal(StatusCode::METHOD_NOT_ALLOWED, "use GET or POST")),
    };
    if request.query.trim().is_empty() {
        return Err(refusal(StatusCode::BAD_REQUEST, "the request has no `query`"));
    }
    Ok(request)
}

/// A mutation sent by GET is refused (405), as the spec requires.
pub fn check_method(method: &Method, operation: Option<OperationType>) -> Result<(), Refusal> {
    if *method == Method::GET && operation == Some(OperationType::Mutation) {
        return Err(refusal(StatusCode::METHOD_NOT_ALLOWED, "a mutation must be sent by POST"));
    }
    Ok(())
}

/// The operation a request runs: the one `operation_name` names, or the
/// document's only one; None when there is no such operation (GraphQL itself
/// then says why).
pub fn selected_operation<'d>(document: &'d ExecutableDocument, operation_name: Option<&str>) -> Option<&'d OperationDefinition> {
    match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => Some(&operation.node),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name).map(|operation| &operation.node),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => operations.values().next().map(|operation| &operation.node),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// The answer to a query or mutation, as `answer` says: with
/// `application/graphql-response+json`, a request that could not run (it
/// does not parse, validate, or its variables do not fit) is 400 without `data`.
pub fn respond(response: async_graphql::Response, answer: Answer) -> Response {
    let did_not_run = response.data == async_graphql::Value::Null && !response.errors.is_empty() && response.errors.iter().all(|e| e.path.is_empty());
    let (status, content_type) = match answer {
        Answer::GraphqlResponse if did_not_run => (StatusCode::BAD_REQUEST, "application/graphql-response+json"),
        Answer::GraphqlResponse => (StatusCode::OK, "application/graphql-response+json"),
        Answer::Json => (StatusCode::OK, "application/json"),
    };
    let mut body = serde_json::to_value(&response).expect("a GraphQL response serializes");
    if did_not_run && answer == Answer::GraphqlResponse
        && let Some(fields) = body.as_object_mut()
    {
        fields.remove("data");
    }
    (status, [(header::CONTENT_TYPE, content_type)], body.to_string()).into_response()
}

/// Refuses a caller that accepts none of the types we answer in.
pub fn not_acceptable() -> Response {
    refusal(StatusCode::NOT_ACCEPTABLE, "accept application/graphql-response+json or application/json (multipart/mixed for a subscription)").into_response()
}

/// How often an open subscription sends a heartbeat part.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(15);

/// A subscription's responses as a multipart stream (the multipart
/// subscription protocol): each part is closed by the next delimiter as soon
/// as it is written, so the caller passes every update on at once; a
/// heartbeat part keeps idle connections open.
pub fn multipart(responses: futures::stream::BoxStream<'static, async_graphql::Response>) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "multipart/mixed; boundary=graphql; subscriptionSpec=\"1.0\"")
        .body(Body::from_stream(multipart_parts(responses)))
        .expect("a static header is valid")
}

fn multipart_parts(responses: futures::stream::BoxStream<'static, async_graphql::Response>) -> impl Stream<Item = Result<Bytes, Infallible>> {
    fn part(json: &str) -> Bytes {
        format!("content-type: application/json\r\n\r\n{json}\r\n--graphql\r\n").into()
    }
    let heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    let opening = futures::stream::once(async { Bytes::from_static(b"\r\n--graphql\r\n") });
    let parts = futures::stream::unfold(Some((responses, heartbeat)), |state| async move {
        let (mut responses, mut heartbeat) = state?;
        tokio::select! {
            response = responses.next() => Some(match response {
                Some(response) => {
                    let payload = serde_json::json!({ "payload": response }).to_string();
                    (part(&payload), Some((responses, heartbeat)))
                }
                None => (Bytes::from_static(b"--graphql--\r\n"), None),
            }),
            _ = heartbeat.tick() => Some((part("{}"), Some((responses, heartbeat)))),
        }
    });
    opening.chain(parts).map(Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_the_best_accepted_type() {
        let answer = |accept| accepted(accept).answer;
        assert_eq!(answer(None), Some(Answer::Json));
        assert_eq!(answer(Some("application/graphql-response+json, application/json")), Some(Answer::GraphqlResponse));
        assert_eq!(answer(Some("application/json, application/graphql-response+json")), Some(Answer::Json));
        assert_eq!(answer(Some("application/graphql-response+json;q=0.5, application/json")), Some(Answer::Json));
        assert_eq!(answer(Some("*/*")), Some(Answer::Json));
        assert_eq!(answer(Some("text/html")), None);
        let router = accepted(Some("application/graphql-response+json, application/json, multipart/mixed"));
        assert_eq!(router, Accepted { answer: Some(Answer::GraphqlResponse), multipart: true }, "a query is still answered in JSON");
    }

    #[test]
    fn a_mutation_by_get_is_refused() {
        let operation = |query| selected_operation(&async_graphql::parser::parse_query(query).unwrap(), None).map(|operation| operation.ty);
        let refused = check_method(&Method::GET, operation("mutation { x }")).unwrap_err();
        assert_eq!(refused.status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(check_method(&Method::GET, operation("{ x }")).is_ok());
        assert!(check_method(&Method::POST, operation("mutation { x }")).is_ok());
        assert!(check_method(&Method::GET, operation("mutation Named { x }")).is_err(), "a document's only operation needs no name");
        let uri: Uri = "/graphql?query=mutation%20%7B%20x%20%7D".parse().unwrap();
        assert!(read_request(&Method::GET, &HeaderMap::new(), &uri, &Bytes::new()).is_ok(), "read; the method is checked once parsed");
    }

    #[test]
    fn a_post_needs_a_json_body() {
        let uri: Uri = "/graphql".parse().unwrap();
        let body = Bytes::from_static(br#"{"query":"{ x }"}"#);
        let refused = read_request(&Method::POST, &HeaderMap::new(), &uri, &body).unwrap_err();
        assert_eq!(refused.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        assert!(read_request(&Method::POST, &headers, &uri, &body).is_ok());
        let refused = read_request(&Method::POST, &headers, &uri, &Bytes::from_static(b"{")).unwrap_err();
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    }
}
