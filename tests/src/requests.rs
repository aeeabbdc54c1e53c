//! Requests many tests send: to the plain service `orders` (see [`crate::setup::web_to_orders`])
//! and gRPC calls to `greeter`'s `SayHello`.

use crate::client::{empty, full, Body, HttpClient, Proto, Reply};
use crate::upstream::grpc_frame;
use http::Request;
use std::net::SocketAddr;

/// A GET of `http://orders{path}`.
pub fn get(path: &str) -> Request<Body> {
    Request::get(format!("http://orders{path}"))
        .body(empty())
        .expect("a valid request")
}

/// A POST of `body` to `http://orders{path}`.
pub fn post(path: &str, body: Body) -> Request<Body> {
    Request::post(format!("http://orders{path}"))
        .body(body)
        .expect("a valid request")
}

/// Calls `/helloworld.Greeter/SayHello` of service `greeter` through `outbound` over HTTP/2,
/// `name` its one message: a POST with the headers a gRPC client sends (`content-type:
/// application/grpc`, `te: trailers`), then the `extra` headers in order.
pub async fn say_hello(outbound: SocketAddr, name: &str, extra: &[(&str, &str)]) -> Reply {
    let client = HttpClient::new(Proto::Http2, outbound);
    let mut request = client
        .request("greeter", "/helloworld.Greeter/SayHello")
        .method("POST")
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let request = request
        .body(full(grpc_frame(name.as_bytes())))
        .expect("a valid request");
    client.send(request).await
}
