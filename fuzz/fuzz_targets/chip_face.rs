//! Fuzz target: DG2's biometric structure (CBEFF 7F61/7F60, ISO 19794-5 and 39794-5 records)
//! and DG14's chip-authentication SecurityInfos must never panic, hang or grow without bound;
//! a face made showable for the browser (JPEG 2000 decoded to PNG) ends in a picture or an error.

#![no_main]

use checkpointd::adapters::face_image;
use checkpointd::core::chip::dg14::Dg14;
use checkpointd::core::lds::dg2;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(faces) = dg2::faces(data) {
        assert!(!faces.is_empty() && faces.len() <= dg2::FACES_MAX);
        assert!(faces.iter().all(|face| face.data.len() < data.len()));
        for face in faces {
            let _ = face_image::for_browser(face);
        }
    }
    if let Ok(dg14) = Dg14::parse(data) {
        let _ = dg14.choice();
    }
});
