//! The block stream: Server-Sent Events, one event per committed block from a height.

use std::convert::Infallible;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;

use crate::node::Node;
use fat_proto::chain::{BLOCK_BORSH_EVENT, BLOCK_EVENT, BlockFrame, BlockView, StreamEncoding};

#[derive(Debug, Deserialize)]
pub(super) struct StreamQuery {
    #[serde(default)]
    from: Option<u64>,
    /// Include each block's receipts (`receipts` in the data).
    #[serde(default)]
    receipts: bool,
    /// JSON views (the default) or borsh frames.
    #[serde(default)]
    encoding: StreamEncoding,
}

/// Stream committed blocks from `from` (default: the next block) as they are committed.
/// Each event has the height as its id. In JSON, it is named `block` and its data is a
/// [`BlockView`]; in borsh, it is named `block-borsh` and its data is a [`BlockFrame`] in
/// base64, joined from the bytes the store keeps. With `receipts=true`, each carries the
/// block's receipts too.
pub(super) async fn blocks(
    State(node): State<Node>,
    Query(q): Query<StreamQuery>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let tip = node.subscribe();
    let next = q.from.unwrap_or_else(|| tip.borrow().height + 1);
    let (with_receipts, encoding) = (q.receipts, q.encoding);
    let stream =
        futures_util::stream::unfold((node, tip, next), move |(node, mut tip, next)| async move {
            loop {
                if next <= tip.borrow_and_update().height {
                    let event = event(&node, next, with_receipts, encoding);
                    return Some((Ok(event), (node, tip, next + 1)));
                }
                if tip.changed().await.is_err() {
                    return None;
                }
            }
        });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(fat_proto::windows::STREAM_KEEP_ALIVE))
}

/// The event of block `height`, or an `error` event saying why it cannot be read.
fn event(node: &Node, height: u64, with_receipts: bool, encoding: StreamEncoding) -> Event {
    let error = |message: String| Event::default().event("error").data(message);
    let missing = || error(format!("block {height} missing"));
    match encoding {
        StreamEncoding::Json => match view(node, height, with_receipts) {
            Ok(Some(view)) => Event::default()
                .event(BLOCK_EVENT)
                .id(height.to_string())
                .json_data(view)
                .unwrap_or_else(|e| error(e.to_string())),
            Ok(None) => missing(),
            Err(e) => error(e.to_string()),
        },
        StreamEncoding::Borsh => match node.store().block_frame(height, with_receipts) {
            Ok(Some(frame)) => Event::default()
                .event(BLOCK_BORSH_EVENT)
                .id(height.to_string())
                .data(BlockFrame::to_event_data(&frame)),
            Ok(None) => missing(),
            Err(e) => error(e.to_string()),
        },
    }
}

/// Block `height` as the JSON stream sends it, with its receipts when asked.
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
