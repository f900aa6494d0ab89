//! DG2: the holder's face (Doc 9303-10 section 4.7.2). The CBEFF structure (biometric
//! information group 7F61, templates 7F60, data blocks 5F2E or 7F2E) is walked tag by tag with
//! `asn1-rs` (BER, bounded nesting); the facial record inside is ISO/IEC 19794-5 (a fixed
//! binary header, 5F2E) or ISO/IEC 39794-5 (tagged BER, 7F2E). What comes out is the encoded
//! JPEG or JPEG 2000 image, never decoded here and never printed by `Debug`.

use asn1_rs::{Any, Class, FromBer, Length};

use super::LdsError;

const FILE: &str = "DG2";

/// Largest DG2 accepted: the chip reader's file limit (a high-resolution face is under 100 KB).
pub const DG2_BYTES_MAX: usize = 256 * 1024;
/// At most this many faces are taken from one DG2 (documents hold one, rarely two).
pub const FACES_MAX: usize = 4;
/// The ISO/IEC 39794-5 walk visits at most this many data objects, at most this deep.
const WALK_NODES_MAX: usize = 256;
const WALK_DEPTH_MAX: usize = 8;

/// How the face image is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// JPEG (ISO/IEC 10918), which every browser shows.
    Jpeg,
    /// JPEG 2000 (ISO/IEC 15444), a JP2 file or a bare codestream.
    Jpeg2000,
}

impl ImageFormat {
    /// Its media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Jpeg2000 => "image/jp2",
        }
    }

    /// The format whose signature `data` starts with.
    fn sniff(data: &[u8]) -> Option<Self> {
        const JP2: [u8; 12] = [
            0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A,
        ];
        if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if data.starts_with(&JP2) || data.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]) {
            Some(Self::Jpeg2000)
        } else {
            None
        }
    }
}

/// One face image as DG2 holds it. Personal data: `Debug` shows the format and size only.
#[derive(Clone, PartialEq, Eq)]
pub struct FaceImage {
    /// The encoding.
    pub format: ImageFormat,
    /// Width and height in pixels, when the record states them (19794-5 does).
    pub size: Option<(u16, u16)>,
    /// The encoded image.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for FaceImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceImage")
            .field("format", &self.format)
            .field("size", &self.size)
            .field("bytes", &self.data.len())
            .finish()
    }
}

/// Reads the face images of DG2's file bytes (outer tag 75 included).
pub fn faces(bytes: &[u8]) -> Result<Vec<FaceImage>, LdsError> {
    if bytes.len() > DG2_BYTES_MAX {
        return Err(LdsError::TooLarge {
            file: FILE,
            len: bytes.len(),
            max: DG2_BYTES_MAX,
        });
    }
    let dg2 = only(bytes, "DG2")?;
    expect_tag(&dg2, Class::Application, 21, "75")?;
    let group = only(dg2.data, "tag 75's content")?;
    expect_tag(&group, Class::Application, 0x61, "7F61")?;
    let mut faces = Vec::new();
    for element in children(group.data, "7F61")? {
        match (element.header.class(), element.header.tag().0) {
            // The number of instances (02) and anything not a template are skipped.
            (Class::Application, 0x60) => {}
            _ => continue,
        }
        if faces.len() == FACES_MAX {
            break;
        }
        faces.push(template_face(&element)?);
    }
    if faces.is_empty() {
        return Err(LdsError::content(
            FILE,
            "7F61 holds no biometric template 7F60",
        ));
    }
    Ok(faces)
}

/// The face in one biometric information template (7F60): its data block 5F2E or 7F2E.
fn template_face(template: &Any<'_>) -> Result<FaceImage, LdsError> {
    for element in children(template.data, "7F60")? {
        if element.header.class() != Class::Application || element.header.tag().0 != 0x2E {
            continue;
        }
        return if element.header.is_constructed() {
            iso39794_face(element.data)
        } else {
            iso19794_face(element.data)
        };
    }
    Err(LdsError::content(
        FILE,
        "template 7F60 holds no biometric data block 5F2E or 7F2E",
    ))
}

/// ISO/IEC 19794-5 (2005): "FAC\0", version, record length, image count, then per image a
/// facial record header (20 bytes), feature points (8 bytes each) and image information
/// (12 bytes: type, data type, width, height, ...) before the image data.
fn iso19794_face(record: &[u8]) -> Result<FaceImage, LdsError> {
    let field = |at: usize, len: usize, what: &str| {
        record.get(at..at + len).ok_or_else(|| {
            LdsError::content(
                FILE,
                format!(
                    "ISO 19794-5 record of {} bytes ends before its {what}",
                    record.len()
                ),
            )
        })
    };
    if field(0, 4, "format identifier")? != b"FAC\0" {
        return Err(LdsError::content(
            FILE,
            "5F2E does not start with the ISO 19794-5 identifier FAC",
        ));
    }
    let be = |bytes: &[u8]| {
        bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    let record_len = be(field(8, 4, "record length")?);
    if record_len != record.len() {
        return Err(LdsError::content(
            FILE,
            format!(
                "ISO 19794-5 record length {record_len} is not the data block's {}",
                record.len()
            ),
        ));
    }
    if be(field(12, 2, "number of images")?) == 0 {
        return Err(LdsError::content(FILE, "ISO 19794-5 record holds no image"));
    }
    // The first facial record starts at byte 14.
    let block_len = be(field(14, 4, "facial record length")?);
    let feature_points = be(field(18, 2, "number of feature points")?);
    let info = 14 + 20 + 8 * feature_points;
    let data_type = field(info + 1, 1, "image data type")?[0];
    let width = be(field(info + 2, 2, "image width")?);
    let height = be(field(info + 4, 2, "image height")?);
    let start = info + 12;
    let end = 14 + block_len;
    if end > record.len() || end < start {
        return Err(LdsError::content(
            FILE,
            format!("ISO 19794-5 facial record length {block_len} does not fit the record"),
        ));
    }
    let data = &record[start..end];
    let format = match (data_type, ImageFormat::sniff(data)) {
        (0, Some(ImageFormat::Jpeg)) => ImageFormat::Jpeg,
        (1, Some(ImageFormat::Jpeg2000)) => ImageFormat::Jpeg2000,
        (other, _) => {
            return Err(LdsError::content(
                FILE,
                format!(
                    "ISO 19794-5 image data type {other} and the data's signature disagree (byte {})",
                    start
                ),
            ));
        }
    };
    Ok(FaceImage {
        format,
        size: Some((
            u16::try_from(width).unwrap_or(u16::MAX),
            u16::try_from(height).unwrap_or(u16::MAX),
        )),
        data: data.to_vec(),
    })
}

/// ISO/IEC 39794-5: tagged BER; the image is the representation's data, the first primitive
/// value holding a JPEG or JPEG 2000 stream (breadth first, bounded).
fn iso39794_face(block: &[u8]) -> Result<FaceImage, LdsError> {
    let mut level = vec![block];
    let mut visited = 0;
    for _ in 0..WALK_DEPTH_MAX {
        let mut next = Vec::new();
        for content in level {
            for element in children(content, "7F2E")? {
                visited += 1;
                if visited > WALK_NODES_MAX {
                    return Err(LdsError::content(
                        FILE,
                        format!("7F2E holds more than {WALK_NODES_MAX} data objects"),
                    ));
                }
                if element.header.is_constructed() {
                    next.push(element.data);
                } else if let Some(format) = ImageFormat::sniff(element.data) {
                    return Ok(FaceImage {
                        format,
                        size: None,
                        data: element.data.to_vec(),
                    });
                }
            }
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    Err(LdsError::content(
        FILE,
        "ISO 39794-5 block 7F2E holds no JPEG or JPEG 2000 image",
    ))
}

/// The one BER object that `bytes` is (definite length; nothing after it).
fn only<'a>(bytes: &'a [u8], what: &str) -> Result<Any<'a>, LdsError> {
    let (rest, object) = Any::from_ber(bytes)
        .map_err(|e| LdsError::content(FILE, format!("{what}: not a BER object ({e})")))?;
    if !rest.is_empty() {
        return Err(LdsError::content(
            FILE,
            format!(
                "{what}: {} bytes after the object at byte {}",
                rest.len(),
                bytes.len() - rest.len()
            ),
        ));
    }
    definite(&object, what)?;
    Ok(object)
}

/// The objects a constructed value holds, one level only.
fn children<'a>(mut content: &'a [u8], parent: &str) -> Result<Vec<Any<'a>>, LdsError> {
    let total = content.len();
    let mut out = Vec::new();
    while !content.is_empty() {
        let at = total - content.len();
        let (rest, object) = Any::from_ber(content).map_err(|e| {
            LdsError::content(
                FILE,
                format!("inside {parent}, byte {at}: not a BER object ({e})"),
            )
        })?;
        definite(&object, parent)?;
        out.push(object);
        content = rest;
    }
    Ok(out)
}

/// Doc 9303 encodes every length definitely; an indefinite one is refused.
fn definite(object: &Any<'_>, what: &str) -> Result<(), LdsError> {
    match object.header.length() {
        Length::Definite(_) => Ok(()),
        Length::Indefinite => Err(LdsError::content(
            FILE,
            format!("{what}: indefinite length"),
        )),
    }
}

fn expect_tag(
    object: &Any<'_>,
    class: Class,
    number: u32,
    name: &'static str,
) -> Result<(), LdsError> {
    if object.header.class() == class
        && object.header.tag().0 == number
        && object.header.is_constructed()
    {
        Ok(())
    } else {
        Err(LdsError::WrongTag {
            file: FILE,
            found: format!(
                "{:?} {} {}",
                object.header.class(),
                object.header.tag().0,
                if object.header.is_constructed() {
                    "constructed"
                } else {
                    "primitive"
                }
            ),
            expected: name,
        })
    }
}

/// Encodes a DG2 holding one ISO/IEC 19794-5 face (for the simulator, demo and tests).
pub fn encode_19794(format: ImageFormat, (width, height): (u16, u16), image: &[u8]) -> Vec<u8> {
    use crate::core::chip::tlv::encode;
    let data_type = match format {
        ImageFormat::Jpeg => 0,
        ImageFormat::Jpeg2000 => 1,
    };
    let block_len = 20 + 12 + image.len();
    let record_len = 14 + block_len;
    let mut record = [&b"FAC\0"[..], b"010\0"].concat();
    record.extend(u32::try_from(record_len).unwrap_or(u32::MAX).to_be_bytes());
    record.extend(1u16.to_be_bytes());
    record.extend(u32::try_from(block_len).unwrap_or(u32::MAX).to_be_bytes());
    // No feature points; gender, eye and hair colour, properties, expression, pose: unspecified.
    record.extend([0u8; 16]);
    record.extend([0x01, data_type]);
    record.extend(width.to_be_bytes());
    record.extend(height.to_be_bytes());
    record.extend([0u8; 6]);
    record.extend_from_slice(image);
    let header = encode(
        &[0xA1],
        &[encode(&[0x81], &[0x02]), encode(&[0x87], &[0x01, 0x01])].concat(),
    );
    let template = encode(
        &[0x7F, 0x60],
        &[header, encode(&[0x5F, 0x2E], &record)].concat(),
    );
    let group = encode(&[0x7F, 0x61], &[encode(&[0x02], &[1]), template].concat());
    encode(&[0x75], &group)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::chip::tlv::encode;

    const JPEG: [u8; 8] = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F'];
    const JP2: [u8; 14] = [
        0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A, 0, 0,
    ];

    #[test]
    fn iso19794_faces_in_jpeg_and_jpeg2000_are_extracted() {
        for (format, image) in [
            (ImageFormat::Jpeg, &JPEG[..]),
            (ImageFormat::Jpeg2000, &JP2[..]),
        ] {
            let dg2 = encode_19794(format, (480, 640), image);
            let faces = faces(&dg2).expect("faces");
            assert_eq!(faces.len(), 1);
            assert_eq!(faces[0].format, format);
            assert_eq!(faces[0].size, Some((480, 640)));
            assert_eq!(faces[0].data, image);
            let shown = format!("{:?}", faces[0]);
            assert!(
                !shown.contains("255") && shown.contains("bytes: "),
                "{shown}"
            );
        }
    }

    #[test]
    fn an_iso39794_face_is_found_in_its_tagged_structure() {
        // 7F2E { A1 { 30 { 80 01 01, A1 { A0 { 80 <JPEG> } } } } }
        let image = encode(&[0x80], &JPEG);
        let representation = [
            encode(&[0x80], &[1]),
            encode(&[0xA1], &encode(&[0xA0], &image)),
        ]
        .concat();
        let block = encode(&[0xA1], &encode(&[0x30], &representation));
        let template = encode(&[0x7F, 0x60], &encode(&[0x7F, 0x2E], &block));
        let dg2 = encode(
            &[0x75],
            &encode(&[0x7F, 0x61], &[encode(&[0x02], &[1]), template].concat()),
        );
        let faces = faces(&dg2).expect("faces");
        assert_eq!(faces[0].format, ImageFormat::Jpeg);
        assert_eq!(faces[0].data, JPEG);
        assert_eq!(faces[0].size, None);
    }

    #[test]
    fn hostile_or_broken_dg2_gets_a_specific_error() {
        let good = encode_19794(ImageFormat::Jpeg, (1, 1), &JPEG);
        let mut wrong_fac = good.clone();
        let fac = wrong_fac.windows(3).position(|w| w == b"FAC").expect("FAC");
        wrong_fac[fac] = b'X';
        let mut wrong_type = good.clone();
        let at = good.len() - JPEG.len() - 11;
        wrong_type[at] = 1;
        let deep = (0..2000).fold(encode(&[0x80], &JPEG), |inner, _| encode(&[0xA1], &inner));
        let deep = encode(
            &[0x75],
            &encode(
                &[0x7F, 0x61],
                &encode(&[0x7F, 0x60], &encode(&[0x7F, 0x2E], &deep)),
            ),
        );
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "not a BER object"),
            (encode(&[0x61], &[0x5F, 0x1F, 0]), "75"),
            ([good.clone(), vec![0]].concat(), "after the object"),
            (good[..good.len() - 1].to_vec(), "not a BER object"),
            (wrong_fac, "FAC"),
            (wrong_type, "disagree"),
            (deep, "holds no JPEG"),
            (vec![0x75, 0x80, 0x7F, 0x61, 0x80, 0, 0, 0, 0], "indefinite"),
            (
                encode(&[0x75], &encode(&[0x7F, 0x61], &encode(&[0x02], &[1]))),
                "no biometric template",
            ),
            (vec![0x75; DG2_BYTES_MAX + 1], "more than"),
        ];
        for (input, expected) in cases {
            let error = faces(&input).expect_err(expected);
            assert!(error.to_string().contains(expected), "{expected}: {error}");
        }
    }
}
