//! QR decoding from images: a bounded chain of decoders with preprocessing and panic isolation.
//! For readers that deliver a picture instead of text; payloads come back as their exact bytes.

use std::borrow::Cow;
use std::io::Cursor;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use image::{DynamicImage, GrayImage, ImageReader, Rgb32FImage, imageops};
use rxing::multi::MultipleBarcodeReader;
use rxing::qrcode::QRCodeReader;
use rxing::qrcode::cpp_port::QrReader;
use rxing::{BarcodeFormat, BinaryBitmap, DecodeHints, Luma8Source, RXingResult, Reader};
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

mod binarize;
use binarize::{Method, Packed};

/// Largest image accepted, in pixels (about a 12-megapixel photo with margin).
pub const IMAGE_PIXELS_MAX: u64 = 16_000_000;
/// Largest encoded image file accepted, in bytes.
pub const IMAGE_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Memory the image decoder may allocate for one image.
pub const IMAGE_ALLOC_BYTES_MAX: u64 = 256 * 1024 * 1024;
/// Default cap on decoder attempts per image (the chain has at most 10).
pub const ATTEMPTS_MAX: usize = 10;
/// Default wall-clock budget per image; checked before each attempt starts.
pub const TIME_BUDGET: Duration = Duration::from_secs(2);
/// Longest side above which pages are also tried downscaled, where finder patterns are easier to see.
const DOWNSCALE_SIDE_MIN: u32 = 1_000;
/// Longest side up to which small images are also tried upscaled, so fractional modules get whole pixels.
const UPSCALE_SIDE_MAX: u32 = 700;
/// Luminance range below which an image is contrast-stretched before binarisation.
const LOW_CONTRAST_RANGE: u8 = 160;

/// Why an image gave no codes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QrImageError {
    /// The bytes are not an image in a supported format (PNG, JPEG, WebP, BMP).
    #[error("unreadable image: {0}")]
    Unreadable(String),
    /// The encoded file is larger than the configured limit.
    #[error("image file is {bytes} bytes, more than the limit of {max}")]
    FileTooLarge { bytes: usize, max: usize },
    /// The image has more pixels than the configured limit.
    #[error("image is {width}x{height} pixels, more than the limit of {max} pixels")]
    TooLarge { width: u32, height: u32, max: u64 },
    /// The image has no pixels.
    #[error("image is empty ({width}x{height})")]
    Empty { width: u32, height: u32 },
    /// Every attempt ran and none found a code.
    #[error("no qr code found after {attempts} decoder attempts{}", panic_note(*panics))]
    NotFound { attempts: usize, panics: usize },
    /// The per-image budget ran out before a code was found.
    #[error("no qr code found within the budget ({attempts} attempts in {elapsed_ms} ms){}", panic_note(*panics))]
    BudgetExhausted {
        attempts: usize,
        elapsed_ms: u128,
        panics: usize,
    },
}

fn panic_note(panics: usize) -> String {
    if panics == 0 {
        String::new()
    } else {
        format!("; {panics} decoder attempt(s) panicked and were contained")
    }
}

/// Bounds on the work done for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest image accepted, in pixels.
    pub pixels_max: u64,
    /// Largest encoded file accepted by [`decode_image_bytes_with`], in bytes.
    pub file_bytes_max: usize,
    /// Most decoder attempts made on one image.
    pub attempts_max: usize,
    /// Wall-clock budget for one image; an attempt already running is not interrupted.
    pub time_budget: Duration,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            pixels_max: IMAGE_PIXELS_MAX,
            file_bytes_max: IMAGE_BYTES_MAX,
            attempts_max: ATTEMPTS_MAX,
            time_budget: TIME_BUDGET,
        }
    }
}

/// Decodes every QR code found in an encoded image (PNG, JPEG, WebP, BMP) with default limits.
pub fn decode_image_bytes(bytes: &[u8]) -> Result<Vec<Vec<u8>>, QrImageError> {
    decode_image_bytes_with(bytes, &DecodeLimits::default())
}

/// Decodes every QR code found in an encoded image, within `limits`.
pub fn decode_image_bytes_with(
    bytes: &[u8],
    limits: &DecodeLimits,
) -> Result<Vec<Vec<u8>>, QrImageError> {
    let grey = load_image(bytes, limits)?;
    decode_image_with(&grey, limits)
}

/// Decodes an image file's bytes into the 8-bit grey pixels the decoders read, enforcing the size
/// limits before pixels are allocated.
///
/// JPEGs are decoded straight to their luma (Y) plane; other formats are decoded by `image` and
/// grey ones kept as they are (moved, not copied), colour ones converted to exactly the pixels of
/// its `to_luma8` (see `grey_from`).
pub fn load_image(bytes: &[u8], limits: &DecodeLimits) -> Result<DynamicImage, QrImageError> {
    if bytes.len() > limits.file_bytes_max {
        return Err(QrImageError::FileTooLarge {
            bytes: bytes.len(),
            max: limits.file_bytes_max,
        });
    }
    if bytes.starts_with(JPEG_MAGIC) {
        return load_jpeg_luma(bytes, limits).map(DynamicImage::ImageLuma8);
    }
    let decoded = load_other(bytes, limits)?;
    Ok(DynamicImage::ImageLuma8(grey_from(decoded)))
}

/// The image as 8-bit grey, pixel for pixel what `image`'s `to_luma8` returns (the global-threshold
/// attempt is tuned on its output), but for 8-bit RGB and RGBA computed a few times faster.
///
/// `to_luma8` expands each channel to `f32`, sums `channel / 255 * coefficient` in R, G, B order
/// with the coefficients of the image's colour space and rounds `sum * 255`, through a float
/// buffer and a `roundf` call per pixel: a quarter of the time from a PNG's bytes to decoded codes.
/// [`LumaFormula`] reads the coefficients back from `image` and computes the same rounded values.
fn grey_from(image: DynamicImage) -> GrayImage {
    match image {
        DynamicImage::ImageLuma8(grey) => grey,
        colour => fast_luma(&colour).unwrap_or_else(|| colour.to_luma8()),
    }
}

/// `to_luma8` of an 8-bit RGB or RGBA image through [`LumaFormula`]; `None` for other pixel types.
fn fast_luma(image: &DynamicImage) -> Option<GrayImage> {
    let (width, height) = (image.width(), image.height());
    let pixels = match image {
        DynamicImage::ImageRgb8(rgb) => {
            let formula = LumaFormula::of(image)?;
            rgb.as_raw()
                .chunks_exact(3)
                .map(|p| formula.luma(p[0], p[1], p[2]))
                .collect()
        }
        DynamicImage::ImageRgba8(rgba) => {
            let formula = LumaFormula::of(image)?;
            rgba.as_raw()
                .chunks_exact(4)
                .map(|p| formula.luma(p[0], p[1], p[2]))
                .collect()
        }
        _ => return None,
    };
    GrayImage::from_raw(width, height, pixels)
}

/// Fixed-point fraction bits of [`LumaFormula`]'s tables.
const LUMA_FIXED_BITS: u32 = 20;
const LUMA_HALF: u32 = 1 << (LUMA_FIXED_BITS - 1);
/// `2^-10` of a grey level, about ten times the most by which the tables' sum can differ from
/// `to_luma8`'s `f32` sum: six `f32` roundings of at most 2^-24 relative on values below 256 (under
/// 1e-4) plus the tables' own rounding (under 2e-6).
const LUMA_NEAR_HALF: u32 = 1 << (LUMA_FIXED_BITS - 10);

/// `to_luma8`'s grey level of an 8-bit colour in one colour space.
///
/// The exact `r*kr + g*kg + b*kb` is summed from per-channel tables in 20-bit fixed point; where it
/// is not within `LUMA_NEAR_HALF` of a half, the float sum rounds the same way, and that is the
/// answer. The rare colours near a half (about 0.2%) are computed with `to_luma8`'s own `f32`
/// operations in its order.
struct LumaFormula {
    coefficients: [f32; 3],
    fixed: [[u32; 256]; 3],
}

impl LumaFormula {
    /// The formula for `image`'s colour space, or `None` if `image` cannot say its coefficients.
    fn of(image: &DynamicImage) -> Option<Self> {
        // `to_luma32f` of the unit colours: no scaling or rounding, so exactly the coefficients.
        let mut probe = DynamicImage::ImageRgb32F(Rgb32FImage::from_raw(
            3,
            1,
            vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        )?);
        probe.set_color_space(image.color_space()).ok()?;
        let probe = probe.to_luma32f();
        let coefficients: [f32; 3] = probe.as_raw().as_slice().try_into().ok()?;
        // Luminance coefficients are fractions; anything else is left to `to_luma8`.
        if !coefficients.iter().all(|k| (0.0..=1.0).contains(k)) {
            return None;
        }
        let mut fixed = [[0u32; 256]; 3];
        for (table, &coefficient) in fixed.iter_mut().zip(&coefficients) {
            for (value, entry) in table.iter_mut().enumerate() {
                // Exact in f64 (8 bits times 24), then rounded to the nearest 2^-20.
                let scaled =
                    value as f64 * f64::from(coefficient) * f64::from(1u32 << LUMA_FIXED_BITS);
                *entry = scaled.round() as u32;
            }
        }
        Some(Self {
            coefficients,
            fixed,
        })
    }

    #[inline(always)]
    fn luma(&self, r: u8, g: u8, b: u8) -> u8 {
        let [red, green, blue] = &self.fixed;
        let sum = red[usize::from(r)] + green[usize::from(g)] + blue[usize::from(b)];
        let fraction = sum & ((1 << LUMA_FIXED_BITS) - 1);
        if fraction.abs_diff(LUMA_HALF) > LUMA_NEAR_HALF {
            u8::try_from((sum + LUMA_HALF) >> LUMA_FIXED_BITS).unwrap_or(u8::MAX)
        } else {
            self.float_luma(r, g, b)
        }
    }

    /// `to_luma8`'s own arithmetic: `channel as f32 * (1.0 / 255.0)`, times the coefficient, added
    /// to the sum in R, G, B order, the sum times 255 rounded.
    #[cold]
    #[inline(never)]
    fn float_luma(&self, r: u8, g: u8, b: u8) -> u8 {
        let expand = |value: u8| f32::from(value) * (1.0 / 255.0);
        let [kr, kg, kb] = self.coefficients;
        let sum = 0.0 + expand(r) * kr + expand(g) * kg + expand(b) * kb;
        round_to_u8(sum * 255.0)
    }
}

/// `value.round() as u8` (half away from zero, saturating) without a call to `roundf`: the
/// fraction `value - trunc(value)` is exact in `f32` for the values rounded here.
#[inline(always)]
fn round_to_u8(value: f32) -> u8 {
    // Saturating truncation; negative values and NaN give 0, as `round() as u8` does.
    let whole = value as u32;
    let up = value - whole as f32 >= 0.5;
    u8::try_from(whole.saturating_add(u32::from(up))).unwrap_or(u8::MAX)
}

/// Start of every JPEG file: SOI followed by the first marker's 0xFF.
const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8, 0xFF];

/// A JPEG's luma (Y) plane, without the YCbCr-to-RGB-to-grey round trip.
fn load_jpeg_luma(bytes: &[u8], limits: &DecodeLimits) -> Result<GrayImage, QrImageError> {
    let unreadable =
        |error: zune_jpeg::errors::DecodeErrors| QrImageError::Unreadable(format!("jpeg: {error}"));
    // Lenient like `image`'s own JPEG decoder, so the same files are readable.
    let options = DecoderOptions::default()
        .set_strict_mode(false)
        .jpeg_set_out_colorspace(ColorSpace::Luma);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(bytes, options);
    decoder.decode_headers().map_err(unreadable)?;
    let (width, height) = decoder
        .dimensions()
        .ok_or_else(|| QrImageError::Unreadable("jpeg: no frame header".to_owned()))?;
    let width = u32::try_from(width).unwrap_or(u32::MAX);
    let height = u32::try_from(height).unwrap_or(u32::MAX);
    check_dimensions(width, height, limits)?;
    let pixels = decoder.decode().map_err(unreadable)?;
    GrayImage::from_raw(width, height, pixels).ok_or_else(|| {
        QrImageError::Unreadable(format!(
            "jpeg: decoder returned the wrong pixel count for {width}x{height}"
        ))
    })
}

/// Decodes a non-JPEG file with `image`, enforcing the size limits before pixels are allocated.
fn load_other(bytes: &[u8], limits: &DecodeLimits) -> Result<DynamicImage, QrImageError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|error| QrImageError::Unreadable(error.to_string()))?;
    let (width, height) = reader
        .into_dimensions()
        .map_err(|error| QrImageError::Unreadable(error.to_string()))?;
    check_dimensions(width, height, limits)?;
    reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|error| QrImageError::Unreadable(error.to_string()))?;
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(width);
    decoder_limits.max_image_height = Some(height);
    decoder_limits.max_alloc = Some(IMAGE_ALLOC_BYTES_MAX);
    reader.limits(decoder_limits);
    reader
        .decode()
        .map_err(|error| QrImageError::Unreadable(error.to_string()))
}

fn check_dimensions(width: u32, height: u32, limits: &DecodeLimits) -> Result<(), QrImageError> {
    if width == 0 || height == 0 {
        return Err(QrImageError::Empty { width, height });
    }
    if u64::from(width) * u64::from(height) > limits.pixels_max {
        return Err(QrImageError::TooLarge {
            width,
            height,
            max: limits.pixels_max,
        });
    }
    Ok(())
}

/// Decodes every QR code found in an image with default limits.
pub fn decode_image(image: &DynamicImage) -> Result<Vec<Vec<u8>>, QrImageError> {
    decode_image_with(image, &DecodeLimits::default())
}

/// Decodes every QR code found in an image, within `limits`.
///
/// Attempts run in order of cost and strength and the first that finds a code wins:
/// each is isolated with `catch_unwind`, so a decoder panic counts as a failed attempt.
pub fn decode_image_with(
    image: &DynamicImage,
    limits: &DecodeLimits,
) -> Result<Vec<Vec<u8>>, QrImageError> {
    check_dimensions(image.width(), image.height(), limits)?;
    let started = Instant::now();
    let grey = luma(image);
    let grey = grey.as_ref();
    let mut chain = Chain {
        limits,
        started,
        attempts: 0,
        panics: 0,
    };

    // The common case — a printed card photographed evenly — is found by one global threshold
    // without trying harder, at about a third of the cost of the local binariser.
    if let Some(codes) = chain.attempt(|| rxing_modern(grey, Binarizer::Global, Effort::Plain)) {
        return Ok(codes);
    }
    if let Some(codes) = chain.attempt(|| rxing_modern(grey, Binarizer::Hybrid, Effort::Harder)) {
        return Ok(codes);
    }
    if let Some(codes) = chain.attempt(|| rxing_classic(grey)) {
        return Ok(codes);
    }
    let inverted = inverted(grey);
    if let Some(codes) =
        chain.attempt(|| rxing_modern(&inverted, Binarizer::Hybrid, Effort::Harder))
    {
        return Ok(codes);
    }
    // Low-contrast prints defeat the binariser's minimum dynamic range: stretch first.
    if let Some(stretched) = stretched(grey)
        && let Some(codes) =
            chain.attempt(|| rxing_modern(&stretched, Binarizer::Hybrid, Effort::Harder))
    {
        return Ok(codes);
    }
    let longest = grey.width().max(grey.height());
    if longest >= DOWNSCALE_SIDE_MIN {
        let half = imageops::resize(
            grey,
            grey.width().div_ceil(2),
            grey.height().div_ceil(2),
            imageops::FilterType::Triangle,
        );
        if let Some(codes) =
            chain.attempt(|| rxing_modern(&half, Binarizer::Hybrid, Effort::Harder))
        {
            return Ok(codes);
        }
    }
    if longest <= UPSCALE_SIDE_MAX {
        // Fractional module sizes (e.g. 1.5 px) sample badly; doubling gives each module whole pixels.
        let double = imageops::resize(
            grey,
            grey.width() * 2,
            grey.height() * 2,
            imageops::FilterType::Triangle,
        );
        if let Some(codes) =
            chain.attempt(|| rxing_modern(&double, Binarizer::Hybrid, Effort::Harder))
        {
            return Ok(codes);
        }
    }
    // Smoothing helps against sensor noise; the global binariser copes with soft edges.
    let smooth = imageops::blur(grey, 1.0);
    if let Some(codes) = chain.attempt(|| rxing_modern(&smooth, Binarizer::Global, Effort::Harder))
    {
        return Ok(codes);
    }
    // rqrr is a second opinion with its own detector and binariser (it reads low contrast well).
    if let Some(codes) = chain.attempt(|| rqrr_decode(grey)) {
        return Ok(codes);
    }
    if let Some(codes) = chain.attempt(|| rqrr_decode(&inverted)) {
        return Ok(codes);
    }
    Err(chain.failure())
}

/// Bookkeeping of the attempts made on one image.
struct Chain<'l> {
    limits: &'l DecodeLimits,
    started: Instant,
    attempts: usize,
    panics: usize,
}

impl Chain<'_> {
    /// Runs one attempt unless the budget is spent; `Some` only when it found at least one code.
    fn attempt(&mut self, decoder: impl FnOnce() -> Vec<Vec<u8>>) -> Option<Vec<Vec<u8>>> {
        if self.attempts >= self.limits.attempts_max
            || self.started.elapsed() >= self.limits.time_budget
        {
            return None;
        }
        self.attempts += 1;
        match panic::catch_unwind(AssertUnwindSafe(decoder)) {
            Ok(codes) if !codes.is_empty() => Some(codes),
            Ok(_) => None,
            Err(_) => {
                self.panics += 1;
                tracing::warn!(attempt = self.attempts, "qr decoder panicked; contained");
                None
            }
        }
    }

    fn failure(&self) -> QrImageError {
        let budget_spent = self.attempts >= self.limits.attempts_max
            || self.started.elapsed() >= self.limits.time_budget;
        if budget_spent {
            QrImageError::BudgetExhausted {
                attempts: self.attempts,
                elapsed_ms: self.started.elapsed().as_millis(),
                panics: self.panics,
            }
        } else {
            QrImageError::NotFound {
                attempts: self.attempts,
                panics: self.panics,
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Binarizer {
    Hybrid,
    Global,
}

/// Whether the finder-pattern search scans every third row (harder) or skips by image size.
#[derive(Clone, Copy)]
enum Effort {
    Plain,
    Harder,
}

/// The image as 8-bit luma, borrowed when it already is.
fn luma(image: &DynamicImage) -> Cow<'_, GrayImage> {
    match image {
        DynamicImage::ImageLuma8(grey) => Cow::Borrowed(grey),
        _ => Cow::Owned(fast_luma(image).unwrap_or_else(|| image.to_luma8())),
    }
}

fn qr_hints(effort: Effort) -> DecodeHints {
    DecodeHints {
        TryHarder: Some(matches!(effort, Effort::Harder)),
        PossibleFormats: Some([BarcodeFormat::QR_CODE].into_iter().collect()),
        // Byte segments without ECI come back as Latin-1, which maps one-to-one onto bytes.
        CharacterSet: Some("ISO-8859-1".to_owned()),
        ..DecodeHints::default()
    }
}

/// rxing's port of the zxing-cpp QR reader: finds every code; its raw bytes are the payload bytes.
fn rxing_modern(grey: &GrayImage, binarizer: Binarizer, effort: Effort) -> Vec<Vec<u8>> {
    let Ok(source) = Luma8Source::new_with_slice(grey.as_raw(), grey.width(), grey.height()) else {
        return Vec::new();
    };
    let method = match binarizer {
        Binarizer::Hybrid => Method::Hybrid,
        Binarizer::Global => Method::Global,
    };
    QrReader
        .decode_multiple_with_hints(
            &mut BinaryBitmap::new(Packed::new(source, method)),
            &qr_hints(effort),
        )
        .map(|found| {
            let mut codes: Vec<Vec<u8>> = Vec::new();
            for result in found {
                let bytes = result.getRawBytes().to_vec();
                if !codes.contains(&bytes) {
                    codes.push(bytes);
                }
            }
            codes
        })
        .unwrap_or_default()
}

/// rxing's port of the Java ZXing QR reader: one code; its raw bytes are codewords, so use the text.
fn rxing_classic(grey: &GrayImage) -> Vec<Vec<u8>> {
    let Ok(source) = Luma8Source::new_with_slice(grey.as_raw(), grey.width(), grey.height()) else {
        return Vec::new();
    };
    QRCodeReader::new()
        .decode_with_hints(
            &mut BinaryBitmap::new(Packed::new(source, Method::Hybrid)),
            &qr_hints(Effort::Harder),
        )
        .map(|result| vec![text_bytes(&result)])
        .unwrap_or_default()
}

/// Bytes of a text decoded as Latin-1; text that cannot be Latin-1 (a UTF-8 ECI) is kept as UTF-8.
fn text_bytes(result: &RXingResult) -> Vec<u8> {
    latin1_bytes(result.getText()).unwrap_or_else(|| result.getText().as_bytes().to_vec())
}

/// Re-encodes text as ISO-8859-1, or `None` when a character is outside it.
pub(crate) fn latin1_bytes(text: &str) -> Option<Vec<u8>> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect()
}

fn rqrr_decode(grey: &GrayImage) -> Vec<Vec<u8>> {
    let width = usize::try_from(grey.width()).unwrap_or(0);
    let height = usize::try_from(grey.height()).unwrap_or(0);
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        u32::try_from(x)
            .ok()
            .zip(u32::try_from(y).ok())
            .and_then(|(x, y)| grey.get_pixel_checked(x, y))
            .map_or(255, |pixel| pixel.0[0])
    });
    let mut codes: Vec<Vec<u8>> = Vec::new();
    for grid in prepared.detect_grids() {
        let mut bytes = Vec::new();
        if grid.decode_to(&mut bytes).is_ok() && !codes.contains(&bytes) {
            codes.push(bytes);
        }
    }
    codes
}

fn inverted(grey: &GrayImage) -> GrayImage {
    let mut out = grey.clone();
    imageops::invert(&mut out);
    out
}

/// A copy with the 1st..99th percentile luminance stretched to full range, if the image is dull.
fn stretched(grey: &GrayImage) -> Option<GrayImage> {
    let mut histogram = [0u64; 256];
    for pixel in grey.as_raw() {
        histogram[usize::from(*pixel)] += 1;
    }
    let total: u64 = histogram.iter().sum();
    let clip = total / 100;
    let low = percentile_index(histogram.iter(), clip)?;
    let high = 255 - percentile_index(histogram.iter().rev(), clip)?;
    if high <= low || high - low >= LOW_CONTRAST_RANGE {
        return None;
    }
    let range = u32::from(high - low);
    let mut out = grey.clone();
    for pixel in out.iter_mut() {
        let value = u32::from(pixel.saturating_sub(low)).min(range);
        *pixel = u8::try_from(value * 255 / range).unwrap_or(u8::MAX);
    }
    Some(out)
}

/// Index of the first histogram bucket at which the running count exceeds `clip`.
fn percentile_index<'h>(buckets: impl Iterator<Item = &'h u64>, clip: u64) -> Option<u8> {
    let mut seen = 0u64;
    for (index, count) in buckets.enumerate() {
        seen += count;
        if seen > clip {
            return u8::try_from(index).ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_decodes_straight_to_luma() {
        let grey = GrayImage::from_fn(64, 48, |x, y| image::Luma([((x * 4) ^ (y * 5)) as u8]));
        let mut jpeg = Vec::new();
        DynamicImage::ImageLuma8(grey.clone())
            .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
            .expect("encoding to memory cannot fail");
        let loaded = load_image(&jpeg, &DecodeLimits::default()).expect("a valid jpeg");
        let DynamicImage::ImageLuma8(loaded) = loaded else {
            panic!("jpeg not loaded as grey");
        };
        assert_eq!(loaded.dimensions(), (64, 48));
        let close = loaded
            .as_raw()
            .iter()
            .zip(grey.as_raw())
            .filter(|(a, b)| a.abs_diff(**b) <= 24)
            .count();
        assert!(
            close * 10 >= grey.as_raw().len() * 9,
            "{close} close pixels"
        );
        let small = DecodeLimits {
            pixels_max: 64 * 47,
            ..DecodeLimits::default()
        };
        assert!(matches!(
            load_image(&jpeg, &small),
            Err(QrImageError::TooLarge { .. })
        ));
        // A JPEG start followed by garbage is refused by zune-jpeg, not a panic.
        assert!(matches!(
            load_image(b"\xFF\xD8\xFF\xE0 not a jpeg", &DecodeLimits::default()),
            Err(QrImageError::Unreadable(_))
        ));
    }

    #[test]
    fn grey_is_exactly_what_to_luma8_gives() {
        // A million colours spread over the whole RGB cube, and a translucent RGBA image.
        let colour = |i: u32| {
            let c = i.wrapping_mul(2_654_435_761) >> 8;
            [(c >> 16) as u8, (c >> 8) as u8, c as u8]
        };
        let rgb = image::RgbImage::from_fn(1024, 1024, |x, y| image::Rgb(colour(y * 1024 + x)));
        let rgb = DynamicImage::ImageRgb8(rgb);
        let expected = rgb.to_luma8();
        // Both of the formula's paths alone, then the shortcut with its fallback.
        let formula = LumaFormula::of(&rgb).expect("sRGB coefficients");
        let DynamicImage::ImageRgb8(pixels) = &rgb else {
            unreachable!("built as RGB");
        };
        let float: Vec<u8> = pixels
            .pixels()
            .map(|p| formula.float_luma(p[0], p[1], p[2]))
            .collect();
        assert!(float == *expected.as_raw(), "the f32 path differs");
        let near_half = pixels
            .pixels()
            .filter(|p| {
                let [red, green, blue] = &formula.fixed;
                let sum =
                    red[usize::from(p[0])] + green[usize::from(p[1])] + blue[usize::from(p[2])];
                (sum & ((1 << LUMA_FIXED_BITS) - 1)).abs_diff(LUMA_HALF) <= LUMA_NEAR_HALF
            })
            .count();
        assert!(near_half > 100, "{near_half} colours take the f32 path");
        assert_eq!(grey_from(rgb), expected);
        let rgba = image::RgbaImage::from_fn(300, 200, |x, y| {
            let [r, g, b] = colour(y * 300 + x + 7);
            image::Rgba([r, g, b, (x ^ y) as u8])
        });
        let expected = DynamicImage::ImageRgba8(rgba.clone()).to_luma8();
        assert_eq!(grey_from(DynamicImage::ImageRgba8(rgba)), expected);
        // Other pixel types go through `to_luma8` itself.
        let wide = DynamicImage::ImageRgb16(image::ImageBuffer::from_fn(20, 10, |x, y| {
            image::Rgb([x as u16 * 3000, y as u16 * 6000, 40_000])
        }));
        assert_eq!(grey_from(wide.clone()), wide.to_luma8());
    }

    #[test]
    fn rounding_matches_f32_round() {
        for step in 0..=270 * 4 {
            let exact = step as f32 / 4.0;
            for value in [exact.next_down(), exact, exact.next_up()] {
                assert_eq!(round_to_u8(value), value.round() as u8, "{value}");
            }
        }
        for value in [-1.0, -0.4, f32::NAN, f32::INFINITY, 1e10] {
            assert_eq!(round_to_u8(value), value.round() as u8, "{value}");
        }
    }

    #[test]
    fn latin1_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let text: String = all.iter().map(|&b| char::from(b)).collect();
        assert_eq!(latin1_bytes(&text), Some(all));
        assert_eq!(latin1_bytes("€"), None);
    }

    #[test]
    fn stretch_only_dull_images() {
        let dull = GrayImage::from_fn(40, 40, |x, _| {
            image::Luma([if x % 2 == 0 { 110 } else { 150 }])
        });
        let out = stretched(&dull).expect("a 110..150 image is dull");
        assert_eq!(out.get_pixel(0, 0).0[0], 0);
        assert_eq!(out.get_pixel(1, 0).0[0], 255);
        let crisp = GrayImage::from_fn(40, 40, |x, _| {
            image::Luma([if x % 2 == 0 { 0 } else { 255 }])
        });
        assert!(stretched(&crisp).is_none());
    }

    #[test]
    fn limits_reject_oversized_and_empty_images() {
        let limits = DecodeLimits {
            pixels_max: 100,
            ..DecodeLimits::default()
        };
        let image = DynamicImage::new_luma8(11, 10);
        assert_eq!(
            decode_image_with(&image, &limits),
            Err(QrImageError::TooLarge {
                width: 11,
                height: 10,
                max: 100
            })
        );
        assert_eq!(
            decode_image(&DynamicImage::new_luma8(0, 5)),
            Err(QrImageError::Empty {
                width: 0,
                height: 5
            })
        );
    }

    #[test]
    fn garbage_is_unreadable_not_a_panic() {
        assert!(matches!(
            decode_image_bytes(b"\x89PNG\r\n\x1a\nnot really"),
            Err(QrImageError::Unreadable(_))
        ));
        assert!(matches!(
            decode_image_bytes(b""),
            Err(QrImageError::Unreadable(_))
        ));
    }

    #[test]
    fn blank_image_reports_not_found() {
        let blank = DynamicImage::new_luma8(64, 64);
        assert!(matches!(
            decode_image(&blank),
            Err(QrImageError::NotFound { .. })
        ));
    }
}
