//! The JSON bodies clients and followers read from the chain and from workers.
#![no_main]

use fat_proto::ErrorBody;
use fat_proto::chain::{BlockView, ReceiptsView, SubmitAnswer, TxView};
use fat_proto::worker::{JobProgress, LogsView, QueryReply, QueryRequest, WorkerStatus};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(view) = serde_json::from_slice::<BlockView>(data) {
        let _ = view.into_parts();
    }
    let _ = serde_json::from_slice::<TxView>(data);
    let _ = serde_json::from_slice::<ReceiptsView>(data);
    let _ = serde_json::from_slice::<SubmitAnswer>(data);
    let _ = serde_json::from_slice::<ErrorBody>(data);
    let _ = serde_json::from_slice::<QueryRequest>(data);
    let _ = serde_json::from_slice::<QueryReply>(data);
    let _ = serde_json::from_slice::<WorkerStatus>(data);
    let _ = serde_json::from_slice::<LogsView>(data);
    let _ = serde_json::from_slice::<JobProgress>(data);
});
