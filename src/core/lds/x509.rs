//! What PA reads from an X.509 certificate or name: times, country, key usage, CA flag, serial.

use der::asn1::{ObjectIdentifier, PrintableStringRef, Utf8StringRef};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, SubjectKeyIdentifier};
use x509_cert::name::Name;
use x509_cert::time::Time;

/// countryName.
const COUNTRY_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");

/// An X.509 time as an instant (X.509 times are UTC and never before 1950).
pub fn timestamp(time: Time) -> jiff::Timestamp {
    let seconds = i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    jiff::Timestamp::from_second(seconds).unwrap_or(jiff::Timestamp::MAX)
}

/// notBefore and notAfter.
pub fn validity(certificate: &Certificate) -> (jiff::Timestamp, jiff::Timestamp) {
    let validity = &certificate.tbs_certificate.validity;
    (
        timestamp(validity.not_before),
        timestamp(validity.not_after),
    )
}

/// The countryName of `name`, as written.
pub fn country(name: &Name) -> Option<String> {
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|attribute| attribute.oid == COUNTRY_NAME)
        .and_then(|attribute| {
            let value = attribute.value.value();
            PrintableStringRef::new(value)
                .map(|text| text.as_str().to_owned())
                .or_else(|_| Utf8StringRef::new(value).map(|text| text.as_str().to_owned()))
                .ok()
        })
}

/// The subject key identifier extension, when present and readable.
pub fn subject_key_id(certificate: &Certificate) -> Option<Vec<u8>> {
    certificate
        .tbs_certificate
        .get::<SubjectKeyIdentifier>()
        .ok()
        .flatten()
        .map(|(_, id)| id.0.as_bytes().to_vec())
}

/// The key usage extension: `Ok(None)` when absent, `Err` when present but unreadable.
pub fn key_usage(certificate: &Certificate) -> Result<Option<KeyUsage>, der::Error> {
    Ok(certificate
        .tbs_certificate
        .get::<KeyUsage>()?
        .map(|(_, usage)| usage))
}

/// Whether basicConstraints lets the certificate act as a CA: absent, or present with CA true.
pub fn basic_constraints_allow_ca(certificate: &Certificate) -> bool {
    matches!(
        certificate.tbs_certificate.get::<BasicConstraints>(),
        Ok(None | Some((_, BasicConstraints { ca: true, .. })))
    )
}

/// The serial number in upper-case hex, without the sign byte DER adds (as `openssl x509
/// -serial` prints it).
pub fn serial_hex(certificate: &Certificate) -> String {
    let bytes = certificate.tbs_certificate.serial_number.as_bytes();
    let significant = bytes
        .iter()
        .position(|byte| *byte != 0)
        .map_or(&bytes[bytes.len().saturating_sub(1)..], |first| {
            &bytes[first..]
        });
    hex::encode_upper(significant)
}
