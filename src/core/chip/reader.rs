//! Reading a chip end to end: access control (PACE first when EF.CardAccess offers it, CAM
//! preferred, BAC as fallback unless refused), EF.CardSecurity after PACE-CAM, DG14 and chip
//! authentication, then the other LDS files with READ BINARY sizes that adapt to the chip.

use rand::RngCore;

use super::ChipError;
use super::active_auth;
use super::apdu::Command;
use super::atr_info::{self, AtrInfo};
use super::bac::{self, BacKeys};
use super::cam;
use super::card_access::{self, Mapping, PaceInfo};
use super::chip_auth::{self, ChipAuthentication};
use super::lds::{self, LdsFile};
use super::link::Link;
use super::pace::{self, Password};
use crate::core::chip::channel::CardChannel;

/// The eMRTD application identifier (LDS1).
pub const EMRTD_AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01];

/// The largest plain chunk a short READ BINARY carries under secure messaging: 223 bytes pad
/// to 224, and DO'87' + DO'99' + DO'8E' then still fit a 256-byte response.
pub const SHORT_CHUNK: usize = 223;

/// The plain chunk of an extended-length READ BINARY (its protected answer stays below 32 KB).
pub const EXTENDED_CHUNK: usize = 0x7F00 - 64;

/// READ BINARY with INS B0 addresses offsets up to 15 bits.
const MAX_B0_OFFSET: usize = 0x7FFF;

/// What a read is allowed to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadSettings {
    /// Refuse BAC when the chip offers PACE (a silent downgrade is a security hole).
    pub refuse_bac_fallback: bool,
    /// The largest file accepted; a larger announced length is refused before reading it.
    pub max_file_bytes: usize,
}

impl Default for ReadSettings {
    fn default() -> Self {
        Self {
            refuse_bac_fallback: false,
            max_file_bytes: 256 * 1024,
        }
    }
}

/// The access control that opened the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// PACE with its mapping.
    Pace(Mapping),
    /// Basic access control.
    Bac,
}

impl Access {
    /// `PACE` or `BAC`, as reports name it.
    pub fn code(self) -> &'static str {
        match self {
            Self::Pace(_) => "PACE",
            Self::Bac => "BAC",
        }
    }
}

/// Everything read from one chip.
#[derive(Clone, PartialEq, Eq)]
pub struct ChipRead {
    /// How the session was opened.
    pub access: Access,
    /// EF.CardAccess as read, if the chip has one.
    pub card_access: Option<Vec<u8>>,
    /// The files read from the eMRTD application (EF.COM, EF.SOD, data groups), in reading
    /// order, raw with their outer tag.
    pub files: Vec<(LdsFile, Vec<u8>)>,
    /// APDUs exchanged in all.
    pub apdus: usize,
    /// File bytes received.
    pub bytes_read: usize,
    /// The active-authentication exchange, when the chip has DG15 (verified by the caller
    /// once passive authentication has vouched for DG15).
    pub active_authentication: Option<active_auth::Attempt>,
    /// Chip authentication with DG14's key, when the chip has DG14 offering it (counted by
    /// the caller once passive authentication has vouched for DG14). Not run after PACE-CAM,
    /// which authenticated the chip already.
    pub chip_authentication: Option<ChipAuthentication>,
    /// EF.CardSecurity, read after PACE-CAM (its key is what CAM is checked against).
    pub card_security: Option<Vec<u8>>,
    /// PACE-CAM's answer, when the session was opened with it (checked by the caller against
    /// EF.CardSecurity's key once passive authentication has verified that file).
    pub chip_authentication_mapping: Option<cam::Attempt>,
}

impl std::fmt::Debug for ChipRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // DG1 and DG2 are personal data: file names and sizes only.
        let files: Vec<(String, usize)> = self
            .files
            .iter()
            .map(|(file, bytes)| (file.name(), bytes.len()))
            .collect();
        f.debug_struct("ChipRead")
            .field("access", &self.access)
            .field("files", &files)
            .field("apdus", &self.apdus)
            .field("bytes_read", &self.bytes_read)
            .field(
                "active_authentication",
                &self.active_authentication.is_some(),
            )
            .field("chip_authentication", &self.chip_authentication)
            .field("card_security", &self.card_security.as_ref().map(Vec::len))
            .field(
                "chip_authentication_mapping",
                &self.chip_authentication_mapping.is_some(),
            )
            .finish_non_exhaustive()
    }
}

impl ChipRead {
    /// A file's bytes, if read.
    pub fn file(&self, file: LdsFile) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(f, _)| *f == file)
            .map(|(_, bytes)| bytes.as_slice())
    }
}

/// Opens a session and reads the chip's files.
pub fn read_chip(
    channel: &mut dyn CardChannel,
    password: &Password,
    settings: &ReadSettings,
    rng: &mut dyn RngCore,
) -> Result<ChipRead, ChipError> {
    let mut link = Link::new(channel);
    let chunk = read_chunk(&mut link)?;
    let mut files = FileReader::new(settings.max_file_bytes, chunk);
    let card_access = files.read(&mut link, LdsFile::CardAccess)?;
    let open_session = |link: &mut Link<'_>, files: &mut FileReader, rng: &mut dyn RngCore| {
        open(link, files, card_access.as_deref(), password, settings, rng)
    };
    let opened = open_session(&mut link, &mut files, rng)?;
    let com = files.read(&mut link, LdsFile::Com)?;
    let mut wanted = match &com {
        Some(com) => lds::com_data_groups(com)?,
        None => [1, 2, 11, 12, 14, 15].map(LdsFile::Dg).to_vec(),
    };
    // DG3 and DG4 need terminal authentication, which a border terminal without a CVCA link
    // cannot do: they are never read.
    wanted.retain(|f| !matches!(f, LdsFile::Dg(3 | 4)));
    let mut read = Vec::new();
    if let Some(com) = com {
        read.push((LdsFile::Com, com));
    }
    // ICAO order: DG14, then chip authentication (unless PACE-CAM did it), then the other
    // files under its keys.
    let mut chip_authentication = None;
    if wanted.contains(&LdsFile::Dg(14))
        && let Some(dg14) = files.read(&mut link, LdsFile::Dg(14))?
    {
        if opened.chip_authentication_mapping.is_none() {
            chip_authentication = chip_auth::authenticate(&mut link, &dg14, rng)?;
        }
        read.push((LdsFile::Dg(14), dg14));
        if matches!(chip_authentication, Some(ChipAuthentication::Failed(_))) {
            // A failed chip authentication ends the session; a new one reads the other files,
            // which passive authentication still judges.
            link.stop_secure_messaging();
            open_session(&mut link, &mut files, rng)?;
        }
    }
    let rest = wanted.into_iter().filter(|file| *file != LdsFile::Dg(14));
    for file in std::iter::once(LdsFile::Sod).chain(rest) {
        if let Some(bytes) = files.read(&mut link, file)? {
            read.push((file, bytes));
        }
    }
    let active_authentication = if read.iter().any(|(file, _)| *file == LdsFile::Dg(15)) {
        Some(active_auth::challenge_chip(&mut link, rng)?)
    } else {
        None
    };
    Ok(ChipRead {
        access: opened.access,
        card_access,
        files: read,
        apdus: link.apdus(),
        bytes_read: files.bytes_read,
        active_authentication,
        chip_authentication,
        card_security: opened.card_security,
        chip_authentication_mapping: opened.chip_authentication_mapping,
    })
}

/// The first READ BINARY size: extended length only where both the reader and the chip's
/// EF.ATR/INFO allow it.
fn read_chunk(link: &mut Link<'_>) -> Result<usize, ChipError> {
    Ok(match read_atr_info(link)? {
        Some(info) if link.extended_length() && info.extended_length() => {
            info.max_response.map_or(SHORT_CHUNK, |max| {
                max.saturating_sub(atr_info::SM_RESPONSE_OVERHEAD)
                    .clamp(SHORT_CHUNK, EXTENDED_CHUNK)
            })
        }
        _ => SHORT_CHUNK,
    })
}

/// How access control opened the session.
struct Opened {
    access: Access,
    /// EF.CardSecurity, read right after PACE-CAM.
    card_security: Option<Vec<u8>>,
    chip_authentication_mapping: Option<cam::Attempt>,
}

/// Runs PACE when offered (BAC on failure unless refused) or BAC, then selects the eMRTD
/// application; after PACE-CAM it first reads EF.CardSecurity, which lives in the master file.
fn open(
    link: &mut Link<'_>,
    files: &mut FileReader,
    card_access: Option<&[u8]>,
    password: &Password,
    settings: &ReadSettings,
    rng: &mut dyn RngCore,
) -> Result<Opened, ChipError> {
    let infos = match card_access {
        Some(bytes) => card_access::parse(bytes)?,
        None => Vec::new(),
    };
    let select_app = Command::new(0x00, 0xA4, 0x04, 0x0C).with_data(EMRTD_AID.to_vec());
    if !infos.is_empty() {
        let pace_error = match run_pace(link, &infos, password, rng) {
            Ok((mapping, chip_authentication_mapping)) => {
                let card_security = match chip_authentication_mapping {
                    Some(_) => files.read(link, LdsFile::CardSecurity)?,
                    None => None,
                };
                link.exchange_ok(&select_app, "SELECT eMRTD application")?;
                return Ok(Opened {
                    access: Access::Pace(mapping),
                    card_security,
                    chip_authentication_mapping,
                });
            }
            Err(e) => e,
        };
        if settings.refuse_bac_fallback {
            return Err(ChipError::BacFallbackRefused {
                pace: pace_error.to_string(),
            });
        }
        link.stop_secure_messaging();
        if !matches!(password, Password::Mrz(_)) {
            return Err(pace_error);
        }
    }
    let Password::Mrz(information) = password else {
        return Err(ChipError::Password {
            why: "the chip offers no PACE and BAC needs the MRZ, not a CAN",
        });
    };
    link.exchange_ok(&select_app, "SELECT eMRTD application")?;
    bac::authenticate(link, &BacKeys::from_mrz_information(information), rng)?;
    Ok(Opened {
        access: Access::Bac,
        card_security: None,
        chip_authentication_mapping: None,
    })
}

/// PACE with the PACEInfo chosen among those offered: CAM first (it authenticates the chip
/// within PACE, sparing chip authentication's round trips), else the first this reader
/// supports; DH groups that need extended length only when the reader carries it.
fn run_pace(
    link: &mut Link<'_>,
    infos: &[PaceInfo],
    password: &Password,
    rng: &mut dyn RngCore,
) -> Result<(Mapping, Option<cam::Attempt>), ChipError> {
    let extended = link.extended_length();
    let runnable = |info: &&PaceInfo| {
        pace::supported_domain(info).is_ok_and(|domain| extended || !domain.needs_extended_length())
    };
    let info = infos
        .iter()
        .filter(runnable)
        .find(|info| info.mapping == Mapping::ChipAuthentication)
        .or_else(|| infos.iter().find(runnable))
        .or_else(|| {
            infos
                .iter()
                .find(|info| pace::supported_domain(info).is_ok())
        })
        .ok_or_else(|| match infos.first().map(pace::supported_domain) {
            Some(Err(e)) => e,
            _ => ChipError::PaceUnsupported {
                what: "PACEInfo".into(),
            },
        })?;
    let outcome = pace::run(link, info, password, infos.len() > 1, rng)?;
    Ok((info.mapping, outcome.chip_authentication_mapping))
}

/// EF.ATR/INFO of the master file, read in plain before access control; `None` when the chip
/// has none or refuses it (the file is optional: reads then stay short).
fn read_atr_info(link: &mut Link<'_>) -> Result<Option<AtrInfo>, ChipError> {
    let fid = atr_info::FID.to_be_bytes().to_vec();
    let select = link.exchange(&Command::new(0x00, 0xA4, 0x02, 0x0C).with_data(fid))?;
    if !select.is_ok() {
        return Ok(None);
    }
    let mut le = atr_info::MAX_BYTES;
    for _ in 0..2 {
        let response = link.exchange(&read_binary(0, le))?;
        match response.sw {
            0x9000 | 0x6282 => return atr_info::parse(&response.data).map(Some),
            sw if sw >> 8 == 0x6C && sw & 0xFF != 0 => le = usize::from(sw.to_be_bytes()[1]),
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// Reads files with a chunk size that adapts to what the chip accepts.
struct FileReader {
    max_file_bytes: usize,
    chunk: usize,
    bytes_read: usize,
}

impl FileReader {
    /// `chunk` is the first READ BINARY size to try (it shrinks when the chip refuses it).
    fn new(max_file_bytes: usize, chunk: usize) -> Self {
        Self {
            max_file_bytes,
            chunk,
            bytes_read: 0,
        }
    }

    /// Selects and reads a whole file; `None` when the chip has no such file.
    fn read(&mut self, link: &mut Link<'_>, file: LdsFile) -> Result<Option<Vec<u8>>, ChipError> {
        let fid = file.fid().to_be_bytes().to_vec();
        let select = link.exchange(&Command::new(0x00, 0xA4, 0x02, 0x0C).with_data(fid))?;
        match select.sw {
            0x9000 => {}
            0x6A82 | 0x6A88 => return Ok(None),
            // Chips without PACE answer the master file's EF.CardAccess with all kinds of
            // errors (6982, 6986, 6D00...): any refusal means no PACE, and BAC follows. An
            // EF.CardSecurity refused is one not read: PACE-CAM then cannot be verified.
            _ if matches!(file, LdsFile::CardAccess | LdsFile::CardSecurity) => return Ok(None),
            sw => {
                return Err(ChipError::Status {
                    step: "SELECT file",
                    sw,
                });
            }
        }
        let mut content = self.read_range(link, file, 0, 4)?;
        let header_len = lds::header_len(&content, file)?;
        if content.len() < header_len {
            content.extend(self.read_range(
                link,
                file,
                content.len(),
                header_len - content.len(),
            )?);
        }
        let total = lds::announced_len(&content, file)?;
        if total > self.max_file_bytes {
            return Err(ChipError::FileTooLarge {
                file: file.name(),
                announced: total,
                limit: self.max_file_bytes,
            });
        }
        content.truncate(total);
        while content.len() < total {
            let part = self.read_range(link, file, content.len(), total - content.len())?;
            if part.is_empty() {
                return Err(ChipError::FileHeader {
                    file: file.name(),
                    why: "file ends before its announced length",
                });
            }
            content.extend(part);
        }
        content.truncate(total);
        Ok(Some(content))
    }

    /// One READ BINARY of up to `wanted` bytes at `offset`, shrinking the chunk when the chip
    /// refuses the length, following 6CXX, and taking 6282 (end of file) as a short answer.
    fn read_range(
        &mut self,
        link: &mut Link<'_>,
        file: LdsFile,
        offset: usize,
        wanted: usize,
    ) -> Result<Vec<u8>, ChipError> {
        let mut le = wanted.min(self.chunk);
        for _ in 0..8 {
            let response = link.exchange(&read_binary(offset, le))?;
            match response.sw {
                0x9000 | 0x6282 if !response.data.is_empty() || response.sw == 0x6282 => {
                    let mut data = if offset > MAX_B0_OFFSET {
                        unwrap_do53(&response.data, file)?
                    } else {
                        response.data
                    };
                    data.truncate(wanted);
                    self.bytes_read += data.len();
                    return Ok(data);
                }
                sw if sw >> 8 == 0x6C => {
                    // 6CXX: the chip says how many bytes it has (00 = 256).
                    let exact = usize::from(sw.to_be_bytes()[1]);
                    le = if exact == 0 { 256 } else { exact.min(wanted) };
                }
                // Wrong length, or a chip that fails long reads: smaller chunks from now on.
                0x6700 | 0x6B00 | 0x6F00 | 0x6A86 if le > 16 => {
                    let smaller = if le > SHORT_CHUNK {
                        SHORT_CHUNK
                    } else {
                        le / 2
                    };
                    self.chunk = smaller;
                    le = smaller;
                }
                sw => {
                    return Err(ChipError::ReadFailed {
                        file: file.name(),
                        offset,
                        sw,
                    });
                }
            }
        }
        Err(ChipError::ReadFailed {
            file: file.name(),
            offset,
            sw: 0x6700,
        })
    }
}

/// READ BINARY of `le` bytes at `offset`: INS B0 with the offset in P1-P2 up to 32767, beyond
/// that INS B1 with the offset in DO'54' (the answer then comes in DO'53', 4 bytes more).
fn read_binary(offset: usize, le: usize) -> Command {
    if offset <= MAX_B0_OFFSET {
        let [p1, p2] = u16::try_from(offset).unwrap_or(0).to_be_bytes();
        return Command::new(0x00, 0xB0, p1, p2).with_le(le);
    }
    let bytes = offset.to_be_bytes();
    let start = bytes
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(bytes.len() - 1);
    let data = super::tlv::encode(&[0x54], &bytes[start..]);
    Command::new(0x00, 0xB1, 0, 0)
        .with_data(data)
        .with_le(le + 4)
}

/// The data of a READ BINARY B1 answer's DO'53'.
fn unwrap_do53(data: &[u8], file: LdsFile) -> Result<Vec<u8>, ChipError> {
    let objects = super::tlv::primitives(data, &[0x53], "READ BINARY B1")?;
    match objects.as_slice() {
        [(_, value)] => Ok(value.clone()),
        _ => Err(ChipError::FileHeader {
            file: file.name(),
            why: "READ BINARY B1 answer is not one DO'53'",
        }),
    }
}
