//! Ray-trace a scene tile by tile: a CPU-heavy fat contract.
//!
//! Query `tile` takes `{"width", "height", "x0", "y0", "w", "h", "samples"}` (image size, tile
//! origin and size, samples per pixel) and returns `{"width": w, "height": h, "rgb": HEX}`,
//! the lower-case hex of the tile's `w * h * 3` RGB bytes, row-major. Job `tile_rgb` takes the same
//! object as JSON bytes and returns the raw RGB bytes, for fanning a frame out to workers.
//!
//! The [`kernel`] has no SDK dependency and gives the same bytes natively and in wasm; the
//! contract glue exists only in the wasm build.

pub mod kernel;

#[cfg(target_arch = "wasm32")]
mod contract {
    use fat_sdk::prelude::*;

    use crate::kernel::{TileParams, hex, try_render_tile};

    /// The contract keeps no state.
    #[contract]
    #[derive(Serialize, Deserialize, Default)]
    pub struct Render {}

    /// The job input: the query's arguments as JSON.
    #[derive(Deserialize)]
    #[serde(crate = "fat_sdk::serde")]
    struct Job {
        width: u32,
        height: u32,
        x0: u32,
        y0: u32,
        w: u32,
        h: u32,
        samples: u32,
    }

    #[contract]
    impl Render {
        /// Render one tile and return it as hex.
        #[query]
        #[allow(clippy::too_many_arguments)]
        pub fn tile(
            &self,
            width: u32,
            height: u32,
            x0: u32,
            y0: u32,
            w: u32,
            h: u32,
            samples: u32,
        ) -> Result<Value, String> {
            let rgb = try_render_tile(&TileParams {
                width,
                height,
                x0,
                y0,
                w,
                h,
                samples,
            })
            .map_err(|e| e.to_string())?;
            Ok(json!({ "width": w, "height": h, "rgb": hex(&rgb) }))
        }

        /// Render one tile and return the raw bytes.
        #[job]
        pub fn tile_rgb(&self, input: &[u8]) -> Result<Vec<u8>, String> {
            let Job {
                width,
                height,
                x0,
                y0,
                w,
                h,
                samples,
            } = fat_sdk::serde_json::from_slice(input)
                .map_err(|e| format!("invalid job input: {e}"))?;
            try_render_tile(&TileParams {
                width,
                height,
                x0,
                y0,
                w,
                h,
                samples,
            })
            .map_err(|e| e.to_string())
        }
    }
}
