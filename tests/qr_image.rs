//! Image decoding against generated photographs: every distortion family, exact binary payloads,
//! several codes per image, every supported file format, and garbage that must not panic.

mod qr_synth;

use std::io::Cursor;

use checkpointd::adapters::qr_image::{
    DecodeLimits, QrImageError, decode_image, decode_image_bytes, decode_image_bytes_with,
};
use image::{DynamicImage, GrayImage, ImageFormat, RgbImage, imageops};
use proptest::prelude::*;
use qr_synth::{Scene, conditions, payloads, render, symbol};
use qrcode::EcLevel;

/// Conditions every payload must decode under; the benchmark also covers the harder ones.
const REQUIRED: &[&str] = &[
    "clean-4px",
    "module-1px",
    "module-1.5px",
    "module-2.7px",
    "rotate-30",
    "rotate-77",
    "blur-1",
    "noise-25",
    "low-contrast",
    "inverted",
    "inverted-rot",
    "clutter",
];

#[test]
fn decodes_every_payload_under_every_required_condition() {
    let mut failures = Vec::new();
    for condition in conditions().iter().filter(|c| REQUIRED.contains(&c.name)) {
        for (index, payload) in payloads().iter().enumerate() {
            let image = render(&symbol(payload, EcLevel::M), &condition.scene);
            match decode_image(&DynamicImage::ImageLuma8(image)) {
                Ok(codes) if codes == vec![payload.clone()] => {}
                other => failures.push(format!("{} payload {index}: {other:?}", condition.name)),
            }
        }
    }
    assert!(failures.is_empty(), "failed: {failures:#?}");
}

#[test]
fn binary_payload_comes_back_byte_exact() {
    // Every byte value, including the ones that are not valid UTF-8 or are C1 controls in Latin-1.
    let payload: Vec<u8> = (0..=255).rev().collect();
    let image = render(&symbol(&payload, EcLevel::L), &Scene::default());
    let codes = decode_image(&DynamicImage::ImageLuma8(image)).expect("a clean code decodes");
    assert_eq!(codes, vec![payload]);
}

#[test]
fn utf8_byte_payload_is_not_transcoded() {
    let payload = "Nová Ves — Überprüfung".as_bytes().to_vec();
    let image = render(&symbol(&payload, EcLevel::M), &Scene::default());
    assert_eq!(
        decode_image(&DynamicImage::ImageLuma8(image)),
        Ok(vec![payload])
    );
}

#[test]
fn finds_two_codes_in_one_image() {
    let left = render(&symbol(b"FIRST CODE", EcLevel::M), &Scene::default());
    let right = render(&symbol(b"SECOND CODE", EcLevel::M), &Scene::default());
    let mut page = GrayImage::from_pixel(
        left.width() + right.width(),
        left.height().max(right.height()),
        image::Luma([255]),
    );
    imageops::overlay(&mut page, &left, 0, 0);
    imageops::overlay(&mut page, &right, i64::from(left.width()), 0);
    let mut codes = decode_image(&DynamicImage::ImageLuma8(page)).expect("both codes are clean");
    codes.sort();
    assert_eq!(codes, vec![b"FIRST CODE".to_vec(), b"SECOND CODE".to_vec()]);
}

#[test]
fn reads_every_supported_file_format_in_grey_and_colour() {
    let grey = render(&symbol(b"FORMAT CHECK", EcLevel::M), &Scene::default());
    let colour: RgbImage = DynamicImage::ImageLuma8(grey.clone()).to_rgb8();
    for format in [
        ImageFormat::Png,
        ImageFormat::Jpeg,
        ImageFormat::Bmp,
        ImageFormat::WebP,
    ] {
        for image in [
            DynamicImage::ImageLuma8(grey.clone()),
            DynamicImage::ImageRgb8(colour.clone()),
        ] {
            // WebP's encoder takes colour only.
            let image = if format == ImageFormat::WebP {
                DynamicImage::ImageRgb8(image.to_rgb8())
            } else {
                image
            };
            let mut file = Vec::new();
            image
                .write_to(&mut Cursor::new(&mut file), format)
                .expect("encoding to memory works");
            assert_eq!(
                decode_image_bytes(&file),
                Ok(vec![b"FORMAT CHECK".to_vec()]),
                "{format:?} {:?}",
                image.color()
            );
        }
    }
}

#[test]
fn limits_are_enforced_before_decoding() {
    let image = DynamicImage::ImageLuma8(render(&symbol(b"LIMITS", EcLevel::M), &Scene::default()));
    let mut png = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .expect("encoding to memory works");
    let small_file = DecodeLimits {
        file_bytes_max: 10,
        ..DecodeLimits::default()
    };
    assert!(matches!(
        decode_image_bytes_with(&png, &small_file),
        Err(QrImageError::FileTooLarge { .. })
    ));
    let few_pixels = DecodeLimits {
        pixels_max: 100,
        ..DecodeLimits::default()
    };
    assert!(matches!(
        decode_image_bytes_with(&png, &few_pixels),
        Err(QrImageError::TooLarge { .. })
    ));
    // A blank page with a budget of one attempt stops after one attempt.
    let blank = DynamicImage::new_luma8(200, 200);
    let one_attempt = DecodeLimits {
        attempts_max: 1,
        ..DecodeLimits::default()
    };
    assert!(matches!(
        checkpointd::adapters::qr_image::decode_image_with(&blank, &one_attempt),
        Err(QrImageError::BudgetExhausted { attempts: 1, .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_image_bytes(&bytes);
    }

    #[test]
    fn random_small_pictures_never_panic(
        width in 1u32..48, height in 1u32..48, seed in any::<u64>()
    ) {
        let mut state = seed;
        let image = GrayImage::from_fn(width, height, |_, _| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            image::Luma([(state >> 56) as u8])
        });
        let _ = decode_image(&DynamicImage::ImageLuma8(image));
    }
}
