//! Test certificates made with the openssl CLI: a CA and leaves signed by it, for nats-servers
//! that require TLS (and client certificates) and the clients that pin that CA.

use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl (apt-get install openssl)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA (`<name>-ca.pem`) and, signed by it, a certificate `<name>-<leaf>.pem` with its key for
/// each leaf, the server's naming 127.0.0.1.
pub fn certificates(dir: &Path, name: &str, leaves: &[(&str, &str)]) {
    let ca = format!("{name}-ca");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={ca}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    for (leaf, extensions) in leaves {
        let stem = format!("{name}-{leaf}");
        std::fs::write(dir.join(format!("{stem}.ext")), extensions).expect("write extensions");
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &format!("{stem}.key"),
                "-out",
                &format!("{stem}.csr"),
                "-subj",
                &format!("/CN={stem}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{stem}.csr"),
                "-CA",
                &format!("{ca}.pem"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-out",
                &format!("{stem}.pem"),
                "-days",
                "2",
                "-extfile",
                &format!("{stem}.ext"),
            ],
        );
    }
}

pub const SERVER_EXT: &str = "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n";
pub const CLIENT_EXT: &str = "extendedKeyUsage=clientAuth\n";

/// A nats-server configuration requiring TLS with `<name>-server.pem` and a client certificate
/// signed by `<name>-ca.pem` (both made by [`certificates`] in `dir`) and, when given, the NKey
/// user `nkey` as the only login.
pub fn nats_server_config(dir: &Path, name: &str, nkey: Option<&str>) -> String {
    let file = |suffix: &str| dir.join(format!("{name}-{suffix}")).display().to_string();
    let mut config = format!(
        "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  verify: true\n  \
         timeout: 5\n}}\n",
        file("server.pem"),
        file("server.key"),
        file("ca.pem"),
    );
    if let Some(nkey) = nkey {
        config.push_str(&format!(
            "authorization {{ users = [ {{ nkey: \"{nkey}\" }} ] }}\n"
        ));
    }
    config
}
