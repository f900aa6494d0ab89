//! The chip's face made showable in the officer's browser: a JPEG goes as it is, a JPEG 2000
//! (which browsers do not display) is decoded with `hayro-jpeg2000` and sent as PNG.

use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};

use crate::core::lds::dg2::{FaceImage, ImageFormat};

/// Most pixels a JPEG 2000 face may declare before it is decoded: ICAO portraits are a few
/// hundred pixels a side, and a hostile chip must not make the terminal allocate gigabytes.
pub const FACE_PIXELS_MAX: u64 = 2048 * 2048;

/// A face as the browser receives it.
pub struct BrowserImage {
    /// `image/jpeg` or `image/png`.
    pub media_type: &'static str,
    /// The encoded picture (personal data: never logged).
    pub data: Vec<u8>,
}

/// Why a face could not be made showable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FaceImageError {
    /// The JPEG 2000 header or codestream is not decodable.
    #[error("JPEG 2000 face not decodable: {0}")]
    Jpeg2000(String),
    /// The header declares more pixels than [`FACE_PIXELS_MAX`].
    #[error(
        "JPEG 2000 face of {width}x{height} pixels exceeds the limit of {FACE_PIXELS_MAX} pixels"
    )]
    TooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// The decoded picture could not be written as PNG.
    #[error("writing the face as PNG: {0}")]
    Png(String),
}

/// The face in a form every browser shows.
pub fn for_browser(face: FaceImage) -> Result<BrowserImage, FaceImageError> {
    match face.format {
        ImageFormat::Jpeg => Ok(BrowserImage {
            media_type: "image/jpeg",
            data: face.data,
        }),
        ImageFormat::Jpeg2000 => Ok(BrowserImage {
            media_type: "image/png",
            data: jpeg2000_as_png(&face.data)?,
        }),
    }
}

fn jpeg2000_as_png(data: &[u8]) -> Result<Vec<u8>, FaceImageError> {
    let settings = hayro_jpeg2000::DecodeSettings::default();
    let decoder = hayro_jpeg2000::Image::new(data, &settings)
        .map_err(|e| FaceImageError::Jpeg2000(e.to_string()))?;
    let (width, height) = (decoder.width(), decoder.height());
    if u64::from(width) * u64::from(height) > FACE_PIXELS_MAX {
        return Err(FaceImageError::TooLarge { width, height });
    }
    let colour = colour_of(&decoder)?;
    // The decoder is third-party code fed by the chip: a panic in it is this face's error,
    // not the daemon's end.
    let samples = std::panic::catch_unwind(|| {
        let mut context = hayro_jpeg2000::DecoderContext::default();
        decoder
            .decode(&mut context)
            .map(|decoded| decoded.data_u8())
    })
    .map_err(|_| FaceImageError::Jpeg2000("the decoder failed on this codestream".into()))?
    .map_err(|e| FaceImageError::Jpeg2000(e.to_string()))?;
    let expected = u64::from(width) * u64::from(height) * u64::from(colour.channel_count());
    if samples.len() as u64 != expected {
        return Err(FaceImageError::Jpeg2000(format!(
            "decoded {} samples where {width}x{height} pixels need {expected}",
            samples.len()
        )));
    }
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(&samples, width, height, colour)
        .map_err(|e| FaceImageError::Png(e.to_string()))?;
    Ok(png)
}

/// The PNG colour type of the decoded samples: grey or RGB, with or without alpha (an ICC-based
/// space is taken by its channel count; CMYK and other spaces are not portraits browsers need).
fn colour_of(decoder: &hayro_jpeg2000::Image<'_>) -> Result<ExtendedColorType, FaceImageError> {
    let channels = decoder.color_space().num_channels();
    match (channels, decoder.has_alpha()) {
        (1, false) => Ok(ExtendedColorType::L8),
        (1, true) => Ok(ExtendedColorType::La8),
        (3, false) => Ok(ExtendedColorType::Rgb8),
        (3, true) => Ok(ExtendedColorType::Rgba8),
        _ => Err(FaceImageError::Jpeg2000(format!(
            "colour space {:?} is not grey or RGB",
            decoder.color_space()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic 120x160 portrait (no real person), written by Pillow/OpenJPEG as a JP2 file
    /// and as a bare codestream: an encoder independent of the decoder under test.
    const JP2: &[u8] = include_bytes!("../demo/synthetic-face-120x160.jp2");
    const J2K: &[u8] = include_bytes!("../../tests/fixtures/faces/synthetic-120x160.j2k");

    fn face(format: ImageFormat, data: &[u8]) -> FaceImage {
        FaceImage {
            format,
            size: None,
            data: data.to_vec(),
        }
    }

    #[test]
    fn a_jpeg2000_face_in_either_wrapping_becomes_a_png_of_the_same_size() {
        for data in [JP2, J2K] {
            let shown = for_browser(face(ImageFormat::Jpeg2000, data)).expect("decodes");
            assert_eq!(shown.media_type, "image/png");
            let png = image::load_from_memory_with_format(&shown.data, image::ImageFormat::Png)
                .expect("a PNG");
            assert_eq!((png.width(), png.height()), (120, 160));
            // The face's skin tone at its centre survives the round trip (lossy, so roughly).
            let centre = png.to_rgb8().get_pixel(60, 80).0;
            assert!(
                centre[0] > 180 && centre[2] < 200,
                "centre pixel {centre:?}"
            );
        }
    }

    #[test]
    fn a_jpeg_face_goes_as_it_is() {
        let data = [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3];
        let shown = for_browser(face(ImageFormat::Jpeg, &data)).expect("passes");
        assert_eq!(
            (shown.media_type, shown.data.as_slice()),
            ("image/jpeg", &data[..])
        );
    }

    #[test]
    fn a_broken_or_oversized_jpeg2000_face_is_a_clear_error() {
        // Cut inside the JP2 header boxes, and a codestream cut inside its SIZ marker (a cut in
        // the tile data decodes, blurred, as the standard intends).
        for cut in [&JP2[..40], &J2K[..20], b"not an image".as_slice()] {
            assert!(matches!(
                for_browser(face(ImageFormat::Jpeg2000, cut)),
                Err(FaceImageError::Jpeg2000(_))
            ));
        }
        // SIZ declares 60000 x 60000 pixels: refused before any pixel is decoded.
        let mut huge = J2K.to_vec();
        huge[8..12].copy_from_slice(&60_000u32.to_be_bytes());
        huge[12..16].copy_from_slice(&60_000u32.to_be_bytes());
        assert_eq!(
            for_browser(face(ImageFormat::Jpeg2000, &huge)).err(),
            Some(FaceImageError::TooLarge {
                width: 60_000,
                height: 60_000
            })
        );
    }
}
