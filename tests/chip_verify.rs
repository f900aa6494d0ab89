//! `checkpointctl chip verify` and `chip masterlist` against the contract: the real
//! binary over files written by a test PKI (and one made by the `openssl` command), every
//! passive-authentication error code provoked, JSON shapes and exit statuses checked.

mod chip_pki;

use std::path::{Path, PathBuf};
use std::process::Command;

use chip_pki::{CertSpec, Hash, KeyKind, SignedSpec, Style, Y2020, YEAR};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use serde_json::{Value, json};

const AT: &str = "2026-01-01";

fn checkpointctl(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
        .args(args)
        .output()
        .expect("checkpointctl runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        String::from_utf8(output.stderr).expect("UTF-8 stderr"),
    )
}

fn json_of(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// A CSCA, its document signer and where their files are.
struct Issuer {
    csca: X509,
    csca_key: PKey<Private>,
    dsc: X509,
    dsc_key: PKey<Private>,
}

fn issuer(csca_kind: KeyKind, dsc_kind: KeyKind, csca: &CertSpec, dsc: &CertSpec) -> Issuer {
    let csca_key = chip_pki::key(csca_kind, 0);
    let csca = chip_pki::certificate(csca, &csca_key, None);
    let dsc_key = chip_pki::key(dsc_kind, 1);
    let dsc = chip_pki::certificate(dsc, &dsc_key, Some((&csca, &csca_key)));
    Issuer {
        csca,
        csca_key,
        dsc,
        dsc_key,
    }
}

fn standard_issuer() -> Issuer {
    issuer(
        KeyKind::Rsa2048,
        KeyKind::Brainpool256,
        &CertSpec::csca("UT", 1),
        &CertSpec::dsc("UT", 0x2A),
    )
}

fn spec() -> SignedSpec {
    SignedSpec::new(Hash::Sha256, Style::Ecdsa, Some(Y2020 + 5 * YEAR))
}

/// A chip directory: EF.SOD over DG1 and DG2, plus a DG14 the SOD does not list.
fn chip_dir(root: &Path, issuer: &Issuer, spec: &SignedSpec) -> PathBuf {
    let dir = root.join("chip");
    std::fs::create_dir_all(&dir).expect("chip dir");
    let dg1 = chip_pki::dg1(chip_pki::SPECIMEN_TD3);
    let dg2 = chip_pki::data_group(0x75, 20_000, 0x11);
    let sod = chip_pki::sod(&[(1, &dg1), (2, &dg2)], &issuer.dsc, &issuer.dsc_key, spec);
    std::fs::write(dir.join("EF.SOD"), sod).expect("EF.SOD");
    std::fs::write(dir.join("DG1"), dg1).expect("DG1");
    std::fs::write(dir.join("DG2"), dg2).expect("DG2");
    std::fs::write(dir.join("DG14"), chip_pki::data_group(0x6E, 40, 0x22)).expect("DG14");
    std::fs::write(dir.join("notes.txt"), "ignored").expect("other file");
    dir
}

fn write_pem(root: &Path, name: &str, certificate: &X509) -> String {
    let path = root.join(name);
    std::fs::write(&path, certificate.to_pem().expect("PEM")).expect("PEM file");
    path.to_str().expect("UTF-8 path").to_owned()
}

fn verify(dir: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["chip", "verify", dir.to_str().expect("path"), "--json"];
    args.extend(extra);
    let (code, stdout, _) = checkpointctl(&args);
    (code, json_of(&stdout))
}

#[test]
fn a_valid_document_prints_the_contract_object() {
    let root = tempfile::tempdir().expect("temp dir");
    let issuer = standard_issuer();
    let dir = chip_dir(root.path(), &issuer, &spec());
    let csca = write_pem(root.path(), "csca.pem", &issuer.csca);
    let mrz = root.path().join("mrz.txt");
    std::fs::write(&mrz, format!("{}\n", chip_pki::SPECIMEN_TD3)).expect("MRZ file");
    let mrz = mrz.to_str().expect("path");
    let (code, report) = verify(&dir, &["--csca", &csca, "--at", AT, "--mrz", mrz]);
    assert_eq!(code, 0, "{report}");
    let printed = {
        let output = Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
            .args(["mrz", "--json", "--reference-date", AT])
            .stdin(std::fs::File::open(mrz).expect("MRZ file"))
            .output()
            .expect("mrz runs");
        json_of(&String::from_utf8(output.stdout).expect("UTF-8"))
    };
    assert_eq!(
        report,
        json!({
            "passive_authentication": "valid",
            "errors": [],
            "data_groups": {"DG1": "valid", "DG2": "valid", "DG14": "not_in_sod"},
            "signer": {
                "subject": "CN=Document Signer UT 42,C=UT",
                "issuer": "CN=CSCA UT,C=UT",
                "serial": "2A",
                "country": "UT"
            },
            "dg1_mrz": printed
        })
    );
    let (code, text, _) = checkpointctl(&[
        "chip",
        "verify",
        dir.to_str().expect("path"),
        "--csca",
        &csca,
        "--at",
        AT,
    ]);
    assert_eq!(code, 0);
    assert!(
        text.starts_with("passive authentication: valid\n"),
        "{text}"
    );
}

/// The error codes of a report.
fn errors_of(report: &Value) -> Vec<String> {
    report["errors"]
        .as_array()
        .expect("errors array")
        .iter()
        .map(|code| code.as_str().expect("code").to_owned())
        .collect()
}

#[test]
fn every_error_code_through_the_command() {
    let root = tempfile::tempdir().expect("temp dir");
    let issuer = standard_issuer();
    let csca = write_pem(root.path(), "csca.pem", &issuer.csca);
    let good = chip_dir(&root.path().join("good"), &issuer, &spec());

    type Damage = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Vec<String>, Damage)> = vec![
        ("dsc_not_trusted", vec![], Box::new(|_: &Path| {})),
        (
            "dg_hash_mismatch",
            vec![],
            Box::new(|dir: &Path| {
                let altered =
                    chip_pki::dg1(&chip_pki::SPECIMEN_TD3.replace("ERIKSSON", "ERIKSSEN"));
                std::fs::write(dir.join("DG1"), altered).expect("DG1");
            }),
        ),
        (
            "dg_missing",
            vec![],
            Box::new(|dir: &Path| std::fs::remove_file(dir.join("DG1")).expect("rm DG1")),
        ),
        (
            "sod_malformed",
            vec![],
            Box::new(|dir: &Path| {
                std::fs::write(dir.join("EF.SOD"), b"\x77\x03\x30\x01\x00").expect("SOD")
            }),
        ),
        (
            "mrz_mismatch",
            vec![
                "--mrz".into(),
                root.path()
                    .join("other-mrz.txt")
                    .to_str()
                    .expect("path")
                    .into(),
            ],
            Box::new(|_: &Path| {}),
        ),
    ];
    std::fs::write(
        root.path().join("other-mrz.txt"),
        chip_pki::SPECIMEN_TD3.replace("L898902C3", "L898902D3"),
    )
    .expect("MRZ");
    for (expected, extra, damage) in cases {
        let dir = root.path().join(expected);
        copy_dir(&good, &dir);
        damage(&dir);
        let mut args: Vec<&str> = vec!["--at", AT];
        if expected != "dsc_not_trusted" {
            args.extend(["--csca", csca.as_str()]);
        }
        args.extend(extra.iter().map(String::as_str));
        let (code, report) = verify(&dir, &args);
        assert_eq!(code, 1, "{expected}: {report}");
        assert_eq!(report["passive_authentication"], "invalid");
        assert_eq!(errors_of(&report), [expected], "{report}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

#[test]
fn signature_date_revocation_and_algorithm_codes_through_the_command() {
    let root = tempfile::tempdir().expect("temp dir");
    let issuer = standard_issuer();
    let csca = write_pem(root.path(), "csca.pem", &issuer.csca);

    let mut corrupt = spec();
    corrupt.corrupt_signature = true;
    let dir = chip_dir(&root.path().join("corrupt"), &issuer, &corrupt);
    let (code, report) = verify(&dir, &["--csca", &csca, "--at", AT]);
    assert_eq!(
        (code, errors_of(&report)),
        (1, vec!["sod_signature_invalid".to_owned()])
    );

    let dir = chip_dir(&root.path().join("good"), &issuer, &spec());
    let (code, report) = verify(&dir, &["--csca", &csca, "--at", "2040-06-01"]);
    assert_eq!(code, 1);
    assert_eq!(errors_of(&report), ["dsc_expired", "csca_expired"]);

    let crl = chip_pki::crl(&issuer.csca, &issuer.csca_key, &[0x2A], Y2020 + 6 * YEAR);
    let crl_path = root.path().join("csca.crl");
    let pem = der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &crl).expect("PEM");
    std::fs::write(&crl_path, pem).expect("CRL");
    let crl_path = crl_path.to_str().expect("path");
    let (code, report) = verify(&dir, &["--csca", &csca, "--crl", crl_path, "--at", AT]);
    assert_eq!(
        (code, errors_of(&report)),
        (1, vec!["dsc_revoked".to_owned()])
    );

    let mut ended = CertSpec::csca("UT", 1);
    ended.not_before = Y2020 - 10 * YEAR;
    ended.not_after = Y2020 + 5 * YEAR + 86_400;
    let old = issuer_with_csca(&ended);
    let old_csca = write_pem(root.path(), "old-csca.pem", &old.csca);
    let dir = chip_dir(&root.path().join("old"), &old, &spec());
    let (code, report) = verify(&dir, &["--csca", &old_csca, "--at", AT]);
    assert_eq!(
        (code, errors_of(&report)),
        (1, vec!["csca_expired".to_owned()])
    );

    let mut dsa = spec();
    dsa.signature_algorithm = Some(x509_cert::spki::AlgorithmIdentifierOwned {
        oid: der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10040.4.3"),
        parameters: None,
    });
    let dir = chip_dir(&root.path().join("dsa"), &issuer, &dsa);
    let (code, report) = verify(&dir, &["--csca", &csca, "--at", AT]);
    assert_eq!(
        (code, errors_of(&report)),
        (1, vec!["unsupported_algorithm".to_owned()])
    );
}

fn issuer_with_csca(csca: &CertSpec) -> Issuer {
    issuer(
        KeyKind::P384,
        KeyKind::P256,
        csca,
        &CertSpec::dsc("UT", 0x2A),
    )
}

#[test]
fn master_lists_give_trust_and_report_their_contents() {
    let root = tempfile::tempdir().expect("temp dir");
    let issuer = standard_issuer();
    let other_key = chip_pki::key(KeyKind::Brainpool512, 7);
    let other = chip_pki::certificate(&CertSpec::csca("ZZ", 70), &other_key, None);
    let signer_key = chip_pki::key(KeyKind::P256, 8);
    let mut signer_spec = CertSpec::dsc("UT", 80);
    signer_spec.common_name = "CSCA Master List Signer".into();
    let signer = chip_pki::certificate(
        &signer_spec,
        &signer_key,
        Some((&issuer.csca, &issuer.csca_key)),
    );
    let certificates = [
        other.to_der().expect("DER"),
        issuer.csca.to_der().expect("DER"),
        other.to_der().expect("DER"),
    ];
    let list = chip_pki::master_list(&certificates, &signer, &signer_key, &spec());
    let list_path = root.path().join("masterlist.ml");
    std::fs::write(&list_path, &list).expect("list");
    let list_path = list_path.to_str().expect("path");

    let (code, stdout, _) = checkpointctl(&["chip", "masterlist", list_path, "--json"]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        json_of(&stdout),
        json!({
            "signature_valid": true,
            "signer": {"subject": "CN=CSCA Master List Signer,C=UT", "country": "UT"},
            "certificates": 2,
            "countries": ["UT", "ZZ"],
            "errors": []
        })
    );
    let dir = chip_dir(root.path(), &issuer, &spec());
    let (code, report) = verify(&dir, &["--masterlist", list_path, "--at", AT]);
    assert_eq!((code, errors_of(&report)), (0, vec![]));

    let mut corrupt = spec();
    corrupt.corrupt_signature = true;
    let bad = root.path().join("bad.ml");
    std::fs::write(
        &bad,
        chip_pki::master_list(&certificates, &signer, &signer_key, &corrupt),
    )
    .expect("list");
    let bad = bad.to_str().expect("path");
    let (code, stdout, _) = checkpointctl(&["chip", "masterlist", bad, "--json"]);
    assert_eq!(code, 1);
    let report = json_of(&stdout);
    assert_eq!(report["signature_valid"], false);
    assert_eq!(report["certificates"], 2);
    assert_eq!(
        report["errors"],
        json!(["the signer's signature does not verify"])
    );
    let (code, _, stderr) = checkpointctl(&[
        "chip",
        "verify",
        dir.to_str().expect("path"),
        "--masterlist",
        bad,
    ]);
    assert_eq!(
        code, 2,
        "a list whose signature fails is not trusted: {stderr}"
    );
}

#[test]
fn bad_arguments_exit_2() {
    let root = tempfile::tempdir().expect("temp dir");
    let missing = root.path().join("nothing");
    let missing = missing.to_str().expect("path");
    let dir = root.path().to_str().expect("path");
    let garbage = root.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .expect("file");
    let garbage = garbage.to_str().expect("path");
    for args in [
        vec!["chip", "verify", missing, "--json"],
        vec!["chip", "verify", dir, "--json", "--at", "2026-13-01"],
        vec!["chip", "verify", dir, "--json", "--csca", missing],
        vec!["chip", "verify", dir, "--json", "--csca", garbage],
        vec!["chip", "verify", dir, "--json", "--crl", garbage],
        vec!["chip", "verify", dir, "--json", "--mrz", missing],
        vec!["chip", "verify"],
        vec!["chip", "masterlist", missing, "--json"],
        vec!["chip", "frobnicate"],
    ] {
        let (code, _, stderr) = checkpointctl(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(!stderr.is_empty(), "{args:?} says why");
    }
}

/// Runs the `openssl` command; a missing one fails with the install hint.
fn openssl(args: &[&str], dir: &Path) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .status()
        .expect("the openssl command is installed (apt-get install openssl; scripts/test does)");
    assert!(status.success(), "openssl {args:?}");
}

/// An EF.SOD and master list made by OpenSSL's own CMS code, as outside documents are.
#[test]
fn documents_signed_by_the_openssl_command_verify() {
    let root = tempfile::tempdir().expect("temp dir");
    let work = root.path();
    let dsc_ext = "keyUsage=critical,digitalSignature\n";
    std::fs::write(work.join("dsc.ext"), dsc_ext).expect("ext");
    for args in [
        "ecparam -name brainpoolP384r1 -genkey -noout -out csca.key",
        "req -x509 -new -key csca.key -out csca.pem -days 3650 -subj /C=OS/CN=OpenSSL-CSCA -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign",
        "ecparam -name brainpoolP256r1 -genkey -noout -out dsc.key",
        "req -new -key dsc.key -out dsc.csr -subj /C=OS/CN=OpenSSL-DSC",
        "x509 -req -in dsc.csr -CA csca.pem -CAkey csca.key -set_serial 4660 -days 1000 -extfile dsc.ext -out dsc.pem",
    ] {
        openssl(&args.split(' ').collect::<Vec<_>>(), work);
    }
    let dg1 = chip_pki::dg1(chip_pki::SPECIMEN_TD3);
    let content = chip_pki::lds_security_object(&[(1, &dg1)], Hash::Sha256);
    std::fs::write(work.join("lds.der"), content).expect("LDS");
    openssl(
        &"cms -sign -binary -nodetach -in lds.der -outform DER -out sod.cms -signer dsc.pem -inkey dsc.key -md sha256 -econtent_type 2.23.136.1.1.1"
            .split(' ')
            .collect::<Vec<_>>(),
        work,
    );
    let cms = std::fs::read(work.join("sod.cms")).expect("CMS");
    let sod = chip_pki::wrap_sod(cms);
    let dir = work.join("chip");
    std::fs::create_dir(&dir).expect("dir");
    std::fs::write(dir.join("EF.SOD"), sod).expect("EF.SOD");
    std::fs::write(dir.join("DG1"), dg1).expect("DG1");
    let csca = work.join("csca.pem");
    let (code, report) = verify(&dir, &["--csca", csca.to_str().expect("path")]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["signer"]["serial"], "1234");
    assert_eq!(report["signer"]["country"], "OS");

    let csca_der = X509::from_pem(&std::fs::read(&csca).expect("PEM"))
        .expect("CSCA")
        .to_der()
        .expect("DER");
    let list = chip_pki::master_list_content(&[csca_der]);
    std::fs::write(work.join("list.der"), list).expect("list");
    openssl(
        &"cms -sign -binary -nodetach -in list.der -outform DER -out list.ml -signer dsc.pem -inkey dsc.key -md sha256 -econtent_type 2.23.136.1.1.2"
            .split(' ')
            .collect::<Vec<_>>(),
        work,
    );
    let list_path = work.join("list.ml");
    let (code, stdout, _) = checkpointctl(&[
        "chip",
        "masterlist",
        list_path.to_str().expect("path"),
        "--json",
    ]);
    assert_eq!(code, 0, "{stdout}");
    let list = json_of(&stdout);
    assert_eq!(list["countries"], json!(["OS"]));
    assert_eq!(list["signer"]["country"], "OS");
}
