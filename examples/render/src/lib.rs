//! Ray-trace a scene tile by tile: a CPU-heavy fat contract.
//!
//! Query `tile` takes `{"width", "height", "x0", "y0", "w", "h", "samples"}` (image size, tile
//! origin and size, samples per pixel) and returns `{"width": w, "height": h, "rgb": HEX}`,
//! the lower-case hex of the tile's `w * h * 3` RGB bytes, row-major. Job `tile_rgb` takes the same
//! object as JSON bytes and returns the raw RGB bytes. Command `tile_agreed` takes the same
//! arguments as `tile` and returns the same answer, rendered by every member of the cluster with
//! commands' metering (gas, canonical NaNs), so the receipt's output is a tile the members agree on.
//!
//! Query `image` takes `{"width", "height", "samples"}` (and `"replicas": 2` to render every
//! band on two workers and compare them), cuts the frame into bands of rows, fans them out as
//! `tile_rgb` jobs over the workers of the contract's cluster and returns the frame as a PNG:
//! `{"width", "height", "format": "png", "base64": PNG}` (`fat query --out FILE` writes the
//! decoded bytes). `render-native` writes the same PNG from the same kernel.
//!
//! The [`kernel`] has no SDK dependency and gives the same bytes natively and in wasm; the
//! contract glue exists only in the wasm build.

pub mod kernel;

#[cfg(target_arch = "wasm32")]
mod contract {
    use fat_sdk::prelude::*;

    use base64::Engine as _;

    use crate::kernel::{TileParams, encode_png, frame_tiles, hex, try_render_tile};

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

        /// Render one tile as a command: every member renders it, metered by gas with NaNs
        /// made canonical, and the receipt carries the hex they agree on.
        #[command]
        #[allow(clippy::too_many_arguments)]
        pub fn tile_agreed(
            &mut self,
            width: u32,
            height: u32,
            x0: u32,
            y0: u32,
            w: u32,
            h: u32,
            samples: u32,
        ) -> Result<Value, String> {
            self.tile(width, height, x0, y0, w, h, samples)
        }

        /// Render a whole frame across the cluster, band by band, and return it as a PNG.
        #[query]
        pub fn image(
            &self,
            width: u32,
            height: u32,
            samples: u32,
            replicas: Option<u8>,
        ) -> Result<Value, String> {
            let tiles = frame_tiles(width, height, samples).map_err(|e| e.to_string())?;
            let inputs: Vec<Vec<u8>> = tiles
                .iter()
                .map(|t| {
                    json!({
                        "width": t.width, "height": t.height, "x0": t.x0, "y0": t.y0,
                        "w": t.w, "h": t.h, "samples": t.samples,
                    })
                    .to_string()
                    .into_bytes()
                })
                .collect();
            let options = jobs::Options {
                replicas: replicas.unwrap_or(1),
            };
            let bands = jobs::map_with("tile_rgb", inputs, options).map_err(|e| e.to_string())?;
            let rgb = bands.concat();
            let png = encode_png(width, height, &rgb).map_err(|e| e.to_string())?;
            Ok(json!({
                "width": width,
                "height": height,
                "format": "png",
                "base64": base64::engine::general_purpose::STANDARD.encode(png),
            }))
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
