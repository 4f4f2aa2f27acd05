//! `ChainApi::submit_committed` against a node on loopback that holds a transaction pending
//! past its own wait: the client keeps asking for it, and returns it once committed, or the
//! node's error as soon as the node answers with one.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use fat_proto::chain::{SubmitAnswer, TxAnswer, TxStatus};
use fat_proto::{ChainApi, ServerLimits, serve};
use fat_types::{ChainReceipt, Outcome};

mod common;

use common::tx;

/// What the node answers when asked for the transaction after its submission.
#[derive(Clone, Copy)]
enum Later {
    /// 404 this many times, then the transaction committed.
    CommittedAfter(u32),
    /// 500, at once.
    Broken,
}

/// A node whose `POST /v1/txs` answers 202 pending, and whose `GET /v1/txs/{id}` answers as
/// `later` says; counts the `GET`s.
async fn node(later: Later) -> (String, Arc<AtomicU32>, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let asked = Arc::new(AtomicU32::new(0));
    let counted = asked.clone();
    let service = tower::service_fn(move |request: hyper::Request<fat_proto::RequestBody>| {
        let asked = counted.clone();
        async move {
            let signed = tx();
            let (status, body) = if request.method() == hyper::Method::POST {
                let pending = SubmitAnswer {
                    id: signed.id(),
                    status: TxStatus::Pending,
                    height: None,
                    index: None,
                    receipt: None,
                };
                (202, serde_json::to_vec(&pending).unwrap())
            } else {
                assert_eq!(request.uri().path(), format!("/v1/txs/{}", signed.id()));
                let n = asked.fetch_add(1, Ordering::SeqCst) + 1;
                match later {
                    Later::CommittedAfter(misses) if n <= misses => (
                        404,
                        br#"{"error":"not_found","message":"no such transaction"}"#.to_vec(),
                    ),
                    Later::CommittedAfter(_) => {
                        let found = TxAnswer {
                            id: signed.id(),
                            status: TxStatus::Committed,
                            height: 42,
                            index: 1,
                            receipt: ChainReceipt {
                                tx: signed.id(),
                                fee: 10,
                                outcome: Outcome::Ok,
                            },
                            tx: signed.into(),
                        };
                        (200, serde_json::to_vec(&found).unwrap())
                    }
                    Later::Broken => (
                        500,
                        br#"{"error":"internal","message":"the node broke"}"#.to_vec(),
                    ),
                }
            };
            let mut answer =
                hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
            *answer.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
            answer.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            Ok::<_, Infallible>(answer)
        }
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, service, ServerLimits::default(), async {
        let _ = stopped.await;
    }));
    (format!("http://{addr}"), asked, stop)
}

#[tokio::test]
async fn a_transaction_pending_past_the_nodes_wait_is_asked_for_until_committed() {
    let (url, asked, _stop) = node(Later::CommittedAfter(3)).await;
    let answer = ChainApi::new(&url)
        .unwrap()
        .submit_committed(&tx())
        .await
        .unwrap();
    assert_eq!(answer.status, TxStatus::Committed);
    assert_eq!(answer.height, Some(42));
    assert_eq!(answer.index, Some(1));
    assert_eq!(asked.load(Ordering::SeqCst), 4, "three misses, then found");
}

#[tokio::test]
async fn a_node_that_fails_while_asked_fails_the_submission_at_once() {
    let (url, asked, _stop) = node(Later::Broken).await;
    let error = ChainApi::new(&url)
        .unwrap()
        .submit_committed(&tx())
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(500), "{error}");
    assert!(error.to_string().contains("the node broke"), "{error}");
    assert_eq!(asked.load(Ordering::SeqCst), 1);
}
