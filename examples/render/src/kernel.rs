//! The ray tracer itself: plain Rust, no SDK, the same pixels on every platform.
//!
//! Only `+ - * /`, `sqrt`, comparisons and integer casts touch floats (no `sin`, `powf` or
//! other functions of the platform's libm), so native and wasm builds give identical bytes.

use std::fmt;

/// The largest image side, in pixels.
pub const MAX_SIDE: u32 = 8192;
/// The largest tile, in pixels (`w * h`).
pub const MAX_TILE_PIXELS: u64 = 1 << 20;
/// The most samples per pixel.
pub const MAX_SAMPLES: u32 = 256;
/// The largest whole frame, in pixels (`width * height`): 2560 x 1600 fits.
pub const MAX_FRAME_PIXELS: u64 = 1 << 22;
/// How many bands of rows a frame is cut into, at most, to spread over workers.
pub const FRAME_BANDS: u32 = 32;

/// What to render: an image size, a tile of it and the samples per pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileParams {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Left column of the tile.
    pub x0: u32,
    /// Top row of the tile.
    pub y0: u32,
    /// Tile width.
    pub w: u32,
    /// Tile height.
    pub h: u32,
    /// Samples per pixel (antialiasing).
    pub samples: u32,
}

/// Why parameters are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamsError(String);

impl fmt::Display for ParamsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParamsError {}

impl TileParams {
    /// The whole `width` x `height` image as one tile.
    pub fn whole(width: u32, height: u32, samples: u32) -> Self {
        Self {
            width,
            height,
            x0: 0,
            y0: 0,
            w: width,
            h: height,
            samples,
        }
    }

    /// Check the parameters against the caps and the image bounds.
    pub fn validate(&self) -> Result<(), ParamsError> {
        let fail = |message: String| Err(ParamsError(message));
        if !(1..=MAX_SIDE).contains(&self.width) || !(1..=MAX_SIDE).contains(&self.height) {
            return fail(format!("width and height must be between 1 and {MAX_SIDE}"));
        }
        if self.w == 0 || self.h == 0 {
            return fail("the tile must not be empty".to_owned());
        }
        if u64::from(self.x0) + u64::from(self.w) > u64::from(self.width)
            || u64::from(self.y0) + u64::from(self.h) > u64::from(self.height)
        {
            return fail("the tile must lie inside the image".to_owned());
        }
        if u64::from(self.w) * u64::from(self.h) > MAX_TILE_PIXELS {
            return fail(format!("a tile has at most {MAX_TILE_PIXELS} pixels"));
        }
        if !(1..=MAX_SAMPLES).contains(&self.samples) {
            return fail(format!("samples must be between 1 and {MAX_SAMPLES}"));
        }
        Ok(())
    }
}

/// Render a tile: `w * h * 3` bytes of RGB, row-major, or why the parameters are refused.
pub fn try_render_tile(p: &TileParams) -> Result<Vec<u8>, ParamsError> {
    p.validate()?;
    let scene = Scene::new(p.width, p.height);
    let mut rgb = Vec::with_capacity(p.w as usize * p.h as usize * 3);
    for y in p.y0..p.y0 + p.h {
        for x in p.x0..p.x0 + p.w {
            rgb.extend_from_slice(&scene.pixel(x, y, p.samples));
        }
    }
    Ok(rgb)
}

/// Render a tile: `w * h * 3` bytes of RGB, row-major.
///
/// # Panics
///
/// If the parameters are invalid (see [`TileParams::validate`]).
pub fn render_tile(p: &TileParams) -> Vec<u8> {
    try_render_tile(p).unwrap_or_else(|e| panic!("invalid tile parameters: {e}"))
}

/// The bands of rows a `width` x `height` frame is rendered in, top to bottom: at most
/// [`FRAME_BANDS`], each a tile of whole rows. Checks the frame against its caps.
pub fn frame_tiles(width: u32, height: u32, samples: u32) -> Result<Vec<TileParams>, ParamsError> {
    let whole = TileParams::whole(width, height, samples);
    if u64::from(width) * u64::from(height) > MAX_FRAME_PIXELS {
        return Err(ParamsError(format!(
            "a frame has at most {MAX_FRAME_PIXELS} pixels"
        )));
    }
    let rows = height.div_ceil(FRAME_BANDS).max(1);
    let tiles: Vec<TileParams> = (0..height)
        .step_by(rows as usize)
        .map(|y0| TileParams {
            y0,
            h: rows.min(height - y0),
            ..whole
        })
        .collect();
    for tile in &tiles {
        tile.validate()?;
    }
    Ok(tiles)
}

/// Encode `width` x `height` RGB bytes (row-major) as a PNG. The same bytes give the same
/// file natively and in wasm.
pub fn encode_png(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>, ParamsError> {
    let fail = |e: png::EncodingError| ParamsError(format!("cannot encode the PNG: {e}"));
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().map_err(fail)?;
    writer.write_image_data(rgb).map_err(fail)?;
    writer.finish().map_err(fail)?;
    Ok(out)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 15)] as char);
    }
    out
}

#[derive(Debug, Clone, Copy)]
struct V(f64, f64, f64);

impl V {
    fn add(self, o: V) -> V {
        V(self.0 + o.0, self.1 + o.1, self.2 + o.2)
    }
    fn sub(self, o: V) -> V {
        V(self.0 - o.0, self.1 - o.1, self.2 - o.2)
    }
    fn mul(self, k: f64) -> V {
        V(self.0 * k, self.1 * k, self.2 * k)
    }
    fn times(self, o: V) -> V {
        V(self.0 * o.0, self.1 * o.1, self.2 * o.2)
    }
    fn dot(self, o: V) -> f64 {
        self.0 * o.0 + self.1 * o.1 + self.2 * o.2
    }
    fn cross(self, o: V) -> V {
        V(
            self.1 * o.2 - self.2 * o.1,
            self.2 * o.0 - self.0 * o.2,
            self.0 * o.1 - self.1 * o.0,
        )
    }
    fn norm(self) -> V {
        self.mul(1.0 / self.dot(self).sqrt())
    }
}

struct Sphere {
    center: V,
    radius: f64,
    color: V,
    reflect: f64,
}

struct Light {
    at: V,
    color: V,
}

const SPHERES: [Sphere; 4] = [
    Sphere {
        center: V(0.0, 1.0, 0.0),
        radius: 1.0,
        color: V(0.9, 0.2, 0.2),
        reflect: 0.25,
    },
    Sphere {
        center: V(-2.1, 0.6, 0.8),
        radius: 0.6,
        color: V(0.2, 0.8, 0.3),
        reflect: 0.1,
    },
    Sphere {
        center: V(2.0, 0.8, 0.6),
        radius: 0.8,
        color: V(0.8, 0.8, 0.9),
        reflect: 0.6,
    },
    Sphere {
        center: V(0.9, 0.3, -1.4),
        radius: 0.3,
        color: V(0.95, 0.8, 0.2),
        reflect: 0.05,
    },
];
const LIGHTS: [Light; 2] = [
    Light {
        at: V(5.0, 8.0, -6.0),
        color: V(0.85, 0.85, 0.8),
    },
    Light {
        at: V(-6.0, 5.0, -3.0),
        color: V(0.35, 0.3, 0.25),
    },
];
const AMBIENT: f64 = 0.08;
const MAX_DEPTH: u32 = 4;
const EPSILON: f64 = 1e-6;
/// Half the vertical field of view as a slope (about 35 degrees).
const FOV_SLOPE: f64 = 0.7;

struct Scene {
    width: f64,
    height: f64,
    eye: V,
    forward: V,
    right: V,
    up: V,
}

/// What a ray hits: distance, point, normal, colour, reflectivity.
struct Hit {
    t: f64,
    normal: V,
    color: V,
    reflect: f64,
}

impl Scene {
    fn new(width: u32, height: u32) -> Self {
        let eye = V(0.0, 1.4, -5.0);
        let forward = V(0.0, 0.7, 0.0).sub(eye).norm();
        let right = V(0.0, 1.0, 0.0).cross(forward).norm();
        let up = forward.cross(right);
        Self {
            width: f64::from(width),
            height: f64::from(height),
            eye,
            forward,
            right,
            up,
        }
    }

    fn pixel(&self, x: u32, y: u32, samples: u32) -> [u8; 3] {
        let mut sum = V(0.0, 0.0, 0.0);
        for s in 0..samples {
            let (jx, jy) = if samples == 1 {
                (0.5, 0.5)
            } else {
                jitter(x, y, s)
            };
            let u = ((f64::from(x) + jx) / self.width * 2.0 - 1.0) * FOV_SLOPE * self.width
                / self.height;
            let v = (1.0 - (f64::from(y) + jy) / self.height * 2.0) * FOV_SLOPE;
            let dir = self
                .forward
                .add(self.right.mul(u))
                .add(self.up.mul(v))
                .norm();
            sum = sum.add(trace(self.eye, dir, 0));
        }
        let c = sum.mul(1.0 / f64::from(samples));
        [to_byte(c.0), to_byte(c.1), to_byte(c.2)]
    }
}

fn nearest(origin: V, dir: V) -> Option<Hit> {
    let mut best: Option<Hit> = None;
    for sphere in &SPHERES {
        let oc = origin.sub(sphere.center);
        let b = oc.dot(dir);
        let disc = b * b - (oc.dot(oc) - sphere.radius * sphere.radius);
        if disc < 0.0 {
            continue;
        }
        let root = disc.sqrt();
        let t = if -b - root > EPSILON {
            -b - root
        } else {
            -b + root
        };
        if t > EPSILON && best.as_ref().is_none_or(|hit| t < hit.t) {
            let normal = origin
                .add(dir.mul(t))
                .sub(sphere.center)
                .mul(1.0 / sphere.radius);
            best = Some(Hit {
                t,
                normal,
                color: sphere.color,
                reflect: sphere.reflect,
            });
        }
    }
    // The floor: the plane y = 0, a checkerboard.
    if dir.1 < -EPSILON {
        let t = -origin.1 / dir.1;
        if t > EPSILON && best.as_ref().is_none_or(|hit| t < hit.t) {
            let p = origin.add(dir.mul(t));
            let light = (cell(p.0) + cell(p.2)) % 2 == 0;
            let color = if light {
                V(0.85, 0.85, 0.85)
            } else {
                V(0.15, 0.15, 0.18)
            };
            best = Some(Hit {
                t,
                normal: V(0.0, 1.0, 0.0),
                color,
                reflect: 0.15,
            });
        }
    }
    best
}

fn trace(origin: V, dir: V, depth: u32) -> V {
    let Some(hit) = nearest(origin, dir) else {
        // Sky: a vertical gradient.
        let k = 0.5 * (dir.1 + 1.0);
        return V(1.0, 1.0, 1.0).mul(1.0 - k).add(V(0.45, 0.65, 1.0).mul(k));
    };
    let point = origin.add(dir.mul(hit.t));
    let mut color = hit.color.mul(AMBIENT);
    for light in &LIGHTS {
        let to_light = light.at.sub(point);
        let distance = to_light.dot(to_light).sqrt();
        let l = to_light.mul(1.0 / distance);
        let lambert = hit.normal.dot(l);
        if lambert <= 0.0
            || nearest(point.add(hit.normal.mul(1e-4)), l).is_some_and(|h| h.t < distance)
        {
            continue;
        }
        let half = l.sub(dir).norm();
        let spec = positive(hit.normal.dot(half));
        let spec = square(square(square(square(square(spec))))); // spec^32
        color = color
            .add(hit.color.times(light.color).mul(lambert))
            .add(light.color.mul(spec * 0.5));
    }
    if depth < MAX_DEPTH && hit.reflect > 0.0 {
        let reflected = dir.sub(hit.normal.mul(2.0 * dir.dot(hit.normal)));
        let bounce = trace(point.add(hit.normal.mul(1e-4)), reflected, depth + 1);
        color = color.mul(1.0 - hit.reflect).add(bounce.mul(hit.reflect));
    }
    color
}

fn positive(x: f64) -> f64 {
    if x > 0.0 { x } else { 0.0 }
}

fn square(x: f64) -> f64 {
    x * x
}

/// The checkerboard cell of a coordinate: floor without libm.
fn cell(x: f64) -> i64 {
    let i = x as i64;
    if (i as f64) > x { i - 1 } else { i }
}

/// Linear colour to a byte, with gamma 2 (a square root).
fn to_byte(c: f64) -> u8 {
    let c = if c < 1.0 { positive(c).sqrt() } else { 1.0 };
    (c * 255.0 + 0.5) as u8
}

/// A deterministic sub-pixel offset in `[0, 1)^2` for sample `s` of pixel `(x, y)`.
fn jitter(x: u32, y: u32, s: u32) -> (f64, f64) {
    let h = mix(x ^ mix(y ^ mix(s.wrapping_add(0x9e37_79b9))));
    (unit(h), unit(mix(h ^ 0x85eb_ca6b)))
}

/// A 32-bit integer hash (low bias, from Chris Wellons' hash prospector).
fn mix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

fn unit(h: u32) -> f64 {
    f64::from(h >> 8) / 16_777_216.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_is_deterministic() {
        let p = TileParams::whole(48, 32, 4);
        let a = render_tile(&p);
        assert_eq!(a.len(), 48 * 32 * 3);
        assert_eq!(a, render_tile(&p));
        // Not a blank image.
        assert!(a.iter().any(|&b| b != a[0]));
    }

    #[test]
    fn tiles_assemble_into_the_whole_image() {
        let (width, height, samples) = (40, 30, 3);
        let whole = render_tile(&TileParams::whole(width, height, samples));
        let mut assembled = vec![0u8; whole.len()];
        for (x0, w) in [(0, 16), (16, 16), (32, 8)] {
            for (y0, h) in [(0, 7), (7, 23)] {
                let tile = render_tile(&TileParams {
                    width,
                    height,
                    x0,
                    y0,
                    w,
                    h,
                    samples,
                });
                for row in 0..h {
                    let src = (row * w * 3) as usize;
                    let dst = (((y0 + row) * width + x0) * 3) as usize;
                    assembled[dst..dst + (w * 3) as usize]
                        .copy_from_slice(&tile[src..src + (w * 3) as usize]);
                }
            }
        }
        assert_eq!(assembled, whole);
    }

    #[test]
    fn bad_parameters_are_refused() {
        let ok = TileParams::whole(64, 64, 1);
        assert!(ok.validate().is_ok());
        let bad = [
            TileParams { width: 0, ..ok },
            TileParams {
                height: MAX_SIDE + 1,
                ..ok
            },
            TileParams { w: 0, ..ok },
            TileParams { x0: 1, ..ok },
            TileParams { y0: 60, h: 5, ..ok },
            TileParams { samples: 0, ..ok },
            TileParams {
                samples: MAX_SAMPLES + 1,
                ..ok
            },
            TileParams {
                width: 2048,
                height: 2048,
                w: 2048,
                h: 2048,
                ..ok
            },
            TileParams {
                x0: u32::MAX,
                w: 2,
                ..ok
            },
        ];
        for p in bad {
            assert!(try_render_tile(&p).is_err(), "{p:?}");
        }
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }

    #[test]
    fn floor_and_gamma_need_no_libm() {
        assert_eq!(
            (cell(-0.5), cell(0.0), cell(1.5), cell(-2.0)),
            (-1, 0, 1, -2)
        );
        assert_eq!((to_byte(-1.0), to_byte(0.25), to_byte(2.0)), (0, 128, 255));
    }
}
