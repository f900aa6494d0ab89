//! The demo's travellers: a dozen passports (plain birth dates, made-up numbers), the permit
//! cards some of them carry (one signed by a forger who copied the real issuer's key id), and
//! the chip each passport holds.

use ed25519_dalek::SigningKey;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp, ToSpan};

use super::chips::ChipKind;
use crate::core::document::HolderDigest;
use crate::core::mrz::{Td3Fields, compose_td3};
use crate::core::permit::{self, PermitBody, PermitClaims, PermitHolder, PermitType};
use crate::core::privacy::{DocumentNumber, PersonName};

/// One traveller of the demo.
pub struct Traveller {
    pub label: &'static str,
    pub mrz: [String; 2],
    pub cards: Vec<String>,
    /// The passport's chip, placed on the arrivals lane's reader when the MRZ is scanned.
    pub chip: ChipKind,
}

impl Traveller {
    /// The holder digest the ledger's alerts are keyed by.
    pub fn holder(&self) -> HolderDigest {
        let state: String = self.mrz[0].chars().skip(2).take(3).collect();
        let number: String = self.mrz[1].chars().take(9).collect();
        HolderDigest::of(&state, number.trim_end_matches('<'))
    }
}

fn yymmdd(date: Date) -> String {
    format!(
        "{:02}{:02}{:02}",
        date.year() % 100,
        date.month(),
        date.day()
    )
}

/// A permit issuer's signing key and key id.
pub struct Issuer {
    pub key: SigningKey,
    pub kid: [u8; 8],
}

impl Issuer {
    /// A fresh issuer.
    pub fn generate(rng: &mut (impl rand::CryptoRng + rand::RngCore)) -> Self {
        let key = SigningKey::generate(rng);
        let kid = permit::key_id(&key.verifying_key());
        Self { key, kid }
    }

    /// A signed card of `permit_type` for `holder`, valid `from`..=`until`, and its permit id.
    pub fn card(
        &self,
        permit_type: PermitType,
        holder: &Traveller,
        birth: Date,
        (from, until): (Date, Date),
        now: Timestamp,
    ) -> (String, [u8; 16]) {
        let line2 = &holder.mrz[1];
        let number: String = line2
            .chars()
            .take(9)
            .collect::<String>()
            .trim_end_matches('<')
            .to_string();
        let state: String = holder.mrz[0].chars().skip(2).take(3).collect();
        let nationality: String = line2.chars().skip(10).take(3).collect();
        let body = PermitBody {
            permit_type,
            holder: PermitHolder {
                issuing_state: state,
                document_number: DocumentNumber::new(number),
                birth_date: birth,
                nationality,
                name: PersonName::new(holder.label),
            },
            valid_from: from,
            valid_until: until,
            employer: (permit_type == PermitType::WorkPermit)
                .then(|| "Caspian Drilling LLC".to_string()),
            entries: matches!(permit_type, PermitType::EvisaSingle).then_some(1),
            region: None,
        };
        let mut cti = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut cti);
        // Signed on the first day of validity, so history on past dates sees a valid card.
        let start = from
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .unwrap_or(now);
        let claims = PermitClaims {
            issuer: "AZ-SMS".into(),
            issued_at: start,
            not_before: start,
            expires_at: until
                .to_zoned(jiff::tz::TimeZone::UTC)
                .map(|z| z.timestamp())
                .unwrap_or(now)
                .checked_add(SignedDuration::from_hours(24))
                .unwrap_or(now),
            permit_id: cti,
        };
        (
            permit::sign_permit(&body, &claims, &self.key, self.kid),
            cti,
        )
    }
}

/// The cards central publishes in the ledger (the forged one is not there).
pub struct PublishedCards {
    pub resident: String,
    pub evisa: String,
    pub revoked: String,
    /// The revoked card's permit id.
    pub revoked_cti: [u8; 16],
}

/// Everyone who comes to the demo's lanes.
pub struct Cast {
    pub georgian: Traveller,
    pub russian: Traveller,
    pub resident: Traveller,
    pub evisa: Traveller,
    pub forged: Traveller,
    pub revoked: Traveller,
    pub banned: Traveller,
    pub lost: Traveller,
    pub overstayer: Traveller,
    pub kazakh: Traveller,
    pub damaged: Traveller,
    pub altered_chip: Traveller,
    pub cloned_chip: Traveller,
}

/// A passport holder with a genuine chip; the passport expires 2000 days after `today`.
struct Passport {
    label: &'static str,
    state: &'static str,
    surname: &'static str,
    given: &'static str,
    number: &'static str,
    birth: Date,
    sex: char,
}

impl Passport {
    fn traveller(&self, today: Date) -> Traveller {
        let expiry = today.checked_add(2000.days()).unwrap_or(today);
        Traveller {
            label: self.label,
            mrz: compose_td3(&Td3Fields {
                state: self.state,
                surname: self.surname,
                given: self.given,
                number: self.number,
                nationality: self.state,
                birth: &yymmdd(self.birth),
                sex: self.sex,
                expiry: &yymmdd(expiry),
            }),
            cards: vec![],
            chip: ChipKind::Genuine,
        }
    }
}

const fn passport(
    label: &'static str,
    state: &'static str,
    (surname, given): (&'static str, &'static str),
    number: &'static str,
    birth: Date,
    sex: char,
) -> Passport {
    Passport {
        label,
        state,
        surname,
        given,
        number,
        birth,
        sex,
    }
}

/// The cast's passports, in the order of `Cast`'s fields.
const PASSPORTS: [Passport; 13] = [
    passport(
        "visa-free traveller (GEO)",
        "GEO",
        ("BERIDZE", "NINO"),
        "13AB45678",
        Date::constant(1990, 4, 12),
        'F',
    ),
    passport(
        "Russian citizen near the calendar-year limit",
        "RUS",
        ("IVANOV", "PAVEL"),
        "753412986",
        Date::constant(1984, 9, 2),
        'M',
    ),
    passport(
        "temporary-residence permit holder (IND)",
        "IND",
        ("SHARMA", "RAVI"),
        "Z1234567",
        Date::constant(1987, 1, 30),
        'M',
    ),
    passport(
        "e-visa holder (IND)",
        "IND",
        ("KAPOOR", "ANITA"),
        "Z7654321",
        Date::constant(1995, 6, 18),
        'F',
    ),
    passport(
        "forged permit card (IND)",
        "IND",
        ("GUPTA", "VIKRAM"),
        "Z5550001",
        Date::constant(1979, 11, 5),
        'M',
    ),
    passport(
        "revoked work permit (IND)",
        "IND",
        ("MEHTA", "ARJUN"),
        "Z5550002",
        Date::constant(1983, 3, 21),
        'M',
    ),
    passport(
        "traveller under an entry ban (GEO)",
        "GEO",
        ("KAPANADZE", "LEVAN"),
        "15CD98765",
        Date::constant(1975, 8, 8),
        'M',
    ),
    passport(
        "passport reported lost (GEO)",
        "GEO",
        ("GELASHVILI", "TAMAR"),
        "16EF11223",
        Date::constant(1992, 12, 1),
        'F',
    ),
    passport(
        "overstayer leaving (UKR)",
        "UKR",
        ("KOVALENKO", "OLEH"),
        "FA123456",
        Date::constant(1988, 5, 14),
        'M',
    ),
    passport(
        "Kazakh citizen leaving unregistered (KAZ)",
        "KAZ",
        ("NURLANOV", "ASKAR"),
        "N12345678",
        Date::constant(1991, 2, 27),
        'M',
    ),
    passport(
        "damaged MRZ (GEO)",
        "GEO",
        ("TSERETELI", "ANA"),
        "17GH44556",
        Date::constant(1999, 7, 7),
        'F',
    ),
    passport(
        "chip with an altered DG1 (GEO)",
        "GEO",
        ("ABASHIDZE", "GIORGI"),
        "18JK55667",
        Date::constant(1986, 10, 3),
        'M',
    ),
    passport(
        "cloned chip (GEO)",
        "GEO",
        ("LOMIDZE", "ELENE"),
        "19LM66778",
        Date::constant(1993, 1, 19),
        'F',
    ),
];

impl Cast {
    /// The travellers as they stand on `today`, with their chips (cards not yet issued).
    pub fn new(today: Date) -> Self {
        let [
            georgian,
            russian,
            resident,
            evisa,
            forged,
            revoked,
            banned,
            lost,
            overstayer,
            kazakh,
            mut damaged,
            mut altered_chip,
            mut cloned_chip,
        ] = PASSPORTS
            .each_ref()
            .map(|passport| passport.traveller(today));
        // A scratched check digit: the composite no longer verifies.
        let scratched = if damaged.mrz[1].ends_with('0') {
            "1"
        } else {
            "0"
        };
        damaged.mrz[1].replace_range(43..44, scratched);
        altered_chip.chip = ChipKind::AlteredDg1;
        cloned_chip.chip = ChipKind::Cloned;
        Self {
            georgian,
            russian,
            resident,
            evisa,
            forged,
            revoked,
            banned,
            lost,
            overstayer,
            kazakh,
            damaged,
            altered_chip,
            cloned_chip,
        }
    }

    /// Gives the permit holders their cards (the forged one from `forger`); returns the cards
    /// central publishes.
    pub fn issue_cards(
        &mut self,
        issuer: &Issuer,
        forger: &Issuer,
        today: Date,
        now: Timestamp,
    ) -> PublishedCards {
        let date = |days: i64| today.checked_add(days.days()).unwrap_or(today);
        let birth = |index: usize| PASSPORTS[index].birth;
        let (resident, _) = issuer.card(
            PermitType::TemporaryResidence,
            &self.resident,
            birth(2),
            (date(-200), date(165)),
            now,
        );
        let (evisa, _) = issuer.card(
            PermitType::EvisaSingle,
            &self.evisa,
            birth(3),
            (date(-3), date(87)),
            now,
        );
        let (forged, _) = forger.card(
            PermitType::TemporaryResidence,
            &self.forged,
            birth(4),
            (date(-30), date(335)),
            now,
        );
        let (revoked, revoked_cti) = issuer.card(
            PermitType::WorkPermit,
            &self.revoked,
            birth(5),
            (date(-100), date(265)),
            now,
        );
        self.resident.cards.push(resident.clone());
        self.evisa.cards.push(evisa.clone());
        self.forged.cards.push(forged);
        self.revoked.cards.push(revoked.clone());
        PublishedCards {
            resident,
            evisa,
            revoked,
            revoked_cti,
        }
    }
}
