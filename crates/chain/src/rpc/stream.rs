//! The block stream: Server-Sent Events, one `block` event per committed block from a height.

use std::convert::Infallible;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;

use super::handlers::BlockView;
use crate::node::Node;

#[derive(Debug, Deserialize)]
pub(super) struct StreamQuery {
    #[serde(default)]
    from: Option<u64>,
}

/// Stream committed blocks from `from` (default: the next block) as they are committed.
/// Each event is named `block`, has the height as its id and a [`BlockView`] as JSON data.
pub(super) async fn blocks(
    State(node): State<Node>,
    Query(q): Query<StreamQuery>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let tip = node.subscribe();
    let next = q.from.unwrap_or_else(|| tip.borrow().height + 1);
    let stream =
        futures_util::stream::unfold((node, tip, next), |(node, mut tip, next)| async move {
            loop {
                if next <= tip.borrow_and_update().height {
                    let event = match node.store().block(next) {
                        Ok(Some(block)) => Event::default()
                            .event("block")
                            .id(next.to_string())
                            .json_data(BlockView::from(block))
                            .unwrap_or_else(|e| {
                                Event::default().event("error").data(e.to_string())
                            }),
                        Ok(None) => Event::default()
                            .event("error")
                            .data(format!("block {next} missing")),
                        Err(e) => Event::default().event("error").data(e.to_string()),
                    };
                    return Some((Ok(event), (node, tip, next + 1)));
                }
                if tip.changed().await.is_err() {
                    return None;
                }
            }
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
