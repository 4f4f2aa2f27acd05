//! The servers' defences against peers that hold connections: a request's head and then its
//! body must arrive in time, and connections past the caps are closed at once while the others
//! are served.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use fat_proto::{ServerLimits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Serve a trivial answer within `limits`; the returned sender stops the server.
async fn start(limits: ServerLimits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = tower::service_fn(|request: hyper::Request<fat_proto::RequestBody>| async {
        use http_body_util::BodyExt;
        let answer = match request.into_body().collect().await {
            Ok(body) => hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(
                format!("served {} bytes", body.to_bytes().len()),
            ))),
            Err(error) => {
                let mut answer = hyper::Response::new(http_body_util::Full::new(
                    bytes::Bytes::from(error.to_string()),
                ));
                *answer.status_mut() = hyper::StatusCode::BAD_REQUEST;
                answer
            }
        };
        Ok::<_, Infallible>(answer)
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, service, limits, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// Read until the server closes the connection; what it sent, or `None` if it was still open
/// after `patience`.
async fn read_until_closed(socket: &mut TcpStream, patience: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(patience, async {
        let mut buf = [0u8; 1024];
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

async fn request(addr: SocketAddr) -> String {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    read_until_closed(&mut socket, Duration::from_secs(30))
        .await
        .expect("a whole request is answered")
}

#[tokio::test]
async fn a_request_head_that_never_ends_is_cut_off() {
    let limits = ServerLimits {
        header_read_timeout: Duration::from_millis(300),
        ..ServerLimits::default()
    };
    let (addr, _stop) = start(limits).await;
    // A slowloris: the start of a head, then silence.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut slow, Duration::from_secs(20))
        .await
        .expect("the server closes a connection whose head does not arrive");
    assert!(!answer.contains("served"), "{answer}");
    // An idle connection that never sends anything is closed too.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    assert!(
        read_until_closed(&mut idle, Duration::from_secs(20))
            .await
            .is_some()
    );
    assert!(request(addr).await.contains("served"));
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_and_the_held_ones_still_served() {
    let limits = ServerLimits {
        max_connections: 2,
        ..ServerLimits::default()
    };
    let (addr, _stop) = start(limits).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let socket = TcpStream::connect(addr).await.unwrap();
        held.push(socket);
    }
    // The server accepts in order, so the third connection finds both places taken.
    let mut third = TcpStream::connect(addr).await.unwrap();
    assert_eq!(
        read_until_closed(&mut third, Duration::from_secs(5)).await,
        Some(String::new()),
        "closed at once, unanswered"
    );
    // A held connection is served...
    held[0]
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut held[0], Duration::from_secs(30)).await;
    assert!(answer.unwrap().contains("served"));
    // ...and once it is gone, a new connection is admitted.
    held.remove(0);
    let answer = loop {
        let answer = request(addr).await;
        if !answer.is_empty() {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(answer.contains("served"));
}

#[tokio::test]
async fn a_request_body_that_never_ends_is_cut_off() {
    let limits = ServerLimits {
        body_read_timeout: Duration::from_millis(400),
        ..ServerLimits::default()
    };
    let (addr, _stop) = start(limits).await;
    let head = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n";

    // A whole head, five bytes of the body, then silence.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    silent.write_all(head).await.unwrap();
    silent.write_all(b"12345").await.unwrap();
    let answer = read_until_closed(&mut silent, Duration::from_secs(20))
        .await
        .expect("the server closes a connection whose body does not arrive");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("did not arrive within"), "{answer}");

    // A body sent a byte at a time, each well within any idle timeout: cut off all the same.
    let socket = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = socket.into_split();
    writer.write_all(head).await.unwrap();
    let drip = tokio::spawn(async move {
        for _ in 0..100 {
            if writer.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), reader.read_to_end(&mut received))
        .await
        .expect("the server ends a body sent too slowly before it is whole")
        .ok();
    let answer = String::from_utf8_lossy(&received);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    drip.abort();

    // A body sent at once is read whole.
    let mut prompt = TcpStream::connect(addr).await.unwrap();
    prompt
        .write_all(b"POST / HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 10\r\n\r\n0123456789")
        .await
        .unwrap();
    let answer = read_until_closed(&mut prompt, Duration::from_secs(20))
        .await
        .unwrap();
    assert!(answer.contains("served 10 bytes"), "{answer}");
}
