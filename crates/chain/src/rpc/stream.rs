//! The block stream: Server-Sent Events, one `block` event per committed block from a height.

use std::convert::Infallible;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;

use crate::node::Node;
use fat_proto::chain::BlockView;

#[derive(Debug, Deserialize)]
pub(super) struct StreamQuery {
    #[serde(default)]
    from: Option<u64>,
    /// Include each block's receipts (`receipts` in the data).
    #[serde(default)]
    receipts: bool,
}

/// Stream committed blocks from `from` (default: the next block) as they are committed.
/// Each event is named `block`, has the height as its id and a [`BlockView`] as JSON data;
/// with `receipts=true`, the view carries the block's receipts too.
pub(super) async fn blocks(
    State(node): State<Node>,
    Query(q): Query<StreamQuery>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let tip = node.subscribe();
    let next = q.from.unwrap_or_else(|| tip.borrow().height + 1);
    let with_receipts = q.receipts;
    let stream =
        futures_util::stream::unfold((node, tip, next), move |(node, mut tip, next)| async move {
            loop {
                if next <= tip.borrow_and_update().height {
                    let event = match view(&node, next, with_receipts) {
                        Ok(Some(view)) => Event::default()
                            .event("block")
                            .id(next.to_string())
                            .json_data(view)
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
    Sse::new(stream).keep_alive(KeepAlive::new().interval(fat_proto::windows::STREAM_KEEP_ALIVE))
}

/// Block `height` as the stream sends it, with its receipts when asked.
fn view(node: &Node, height: u64, with_receipts: bool) -> crate::Result<Option<BlockView>> {
    let Some(block) = node.store().block(height)? else {
        return Ok(None);
    };
    let mut view = BlockView::from(block);
    if with_receipts {
        view.receipts = node.store().receipts(height)?;
    }
    Ok(Some(view))
}
