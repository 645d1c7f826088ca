//! TLS on `tls-port` against real clients: redis-cli --tls and redis-py with
//! ssl=True, with and without client certificates (`tls-auth-clients yes |
//! no | optional`), a certificate from an unknown CA refused, a plaintext
//! client on the TLS port refused without harm, `port 0` (TLS only), an
//! encrypted key with `tls-key-file-pass`, and CONFIG SET tls-port.
//! Certificates are made at test time with the openssl CLI, in a temp dir.

#[path = "common/mod.rs"]
mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Throw-away certificates: a CA, a server certificate for 127.0.0.1 and
/// localhost, a client certificate, and a client certificate from another
/// CA the server does not trust.
struct Certs {
    dir: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is needed (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Certs {
    fn new() -> Certs {
        let dir = unique_temp_dir("tls-certs");
        let d = dir.as_path();
        for ca in ["ca", "otherca"] {
            openssl(
                d,
                &[
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-out",
                    &format!("{ca}.key"),
                ],
            );
            openssl(
                d,
                &[
                    "req",
                    "-x509",
                    "-new",
                    "-key",
                    &format!("{ca}.key"),
                    "-days",
                    "2",
                    "-subj",
                    &format!("/CN=Ember test {ca}"),
                    "-out",
                    &format!("{ca}.crt"),
                ],
            );
        }
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        std::fs::write(d.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        for (name, ca, ext) in [
            ("server", "ca", "server.ext"),
            ("client", "ca", "client.ext"),
            ("stranger", "otherca", "client.ext"),
        ] {
            openssl(
                d,
                &[
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-out",
                    &format!("{name}.key"),
                ],
            );
            openssl(
                d,
                &[
                    "req",
                    "-new",
                    "-key",
                    &format!("{name}.key"),
                    "-subj",
                    &format!("/CN={name}"),
                    "-out",
                    &format!("{name}.csr"),
                ],
            );
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    &format!("{ca}.crt"),
                    "-CAkey",
                    &format!("{ca}.key"),
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-extfile",
                    ext,
                    "-out",
                    &format!("{name}.crt"),
                ],
            );
        }
        // The server key again, encrypted (PKCS#8, PBES2/AES-256).
        openssl(
            d,
            &[
                "pkcs8",
                "-topk8",
                "-in",
                "server.key",
                "-v2",
                "aes-256-cbc",
                "-passout",
                "pass:hunter2",
                "-out",
                "server-enc.key",
            ],
        );
        Certs { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// The server directives for TLS on `tls_port`.
    fn server_conf(&self, tls_port: u16) -> Vec<(String, String)> {
        vec![
            ("tls-port".into(), tls_port.to_string()),
            ("tls-cert-file".into(), self.path("server.crt")),
            ("tls-key-file".into(), self.path("server.key")),
            ("tls-ca-cert-file".into(), self.path("ca.crt")),
        ]
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(kind: ServerKind, conf: &[(String, String)]) -> ServerProcess {
    let pairs: Vec<(&str, &str)> = conf.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    ServerProcess::start(kind, &pairs)
}

/// redis-cli over TLS; returns (success, stdout + stderr).
fn cli(port: u16, certs: &Certs, client: Option<&str>, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new("redis-cli");
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "--tls",
        "--cacert",
    ])
    .arg(certs.path("ca.crt"));
    if let Some(name) = client {
        cmd.arg("--cert")
            .arg(certs.path(&format!("{name}.crt")))
            .arg("--key")
            .arg(certs.path(&format!("{name}.key")));
    }
    let out = cmd.args(args).output().expect("redis-cli");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success() && !text.contains("Could not connect"),
        text,
    )
}

#[test]
fn redis_cli_with_a_client_certificate() {
    let _g = shared();
    let certs = Certs::new();
    let tls_port = free_port();
    let ember = start(ServerKind::Ember, &certs.server_conf(tls_port));
    let (ok, out) = cli(tls_port, &certs, Some("client"), &["SET", "k", "over tls"]);
    assert!(ok && out.trim() == "OK", "{out}\n{}", ember.output());
    let (_, out) = cli(tls_port, &certs, Some("client"), &["GET", "k"]);
    assert_eq!(out.trim(), "over tls");
    // The plain port serves the same data.
    let mut c = ember.connect();
    assert_eq!(c.command(&["GET", "k"]).unwrap(), b"$8\r\nover tls\r\n");
    // tls-auth-clients yes (the default): no certificate, or one from a CA
    // the server does not trust, is refused.
    let (ok, out) = cli(tls_port, &certs, None, &["PING"]);
    assert!(!ok || !out.contains("PONG"), "no client certificate: {out}");
    let (ok, out) = cli(tls_port, &certs, Some("stranger"), &["PING"]);
    assert!(
        !ok || !out.contains("PONG"),
        "untrusted client certificate: {out}"
    );
    // The server is still up on both ports.
    assert_eq!(c.command(&["PING"]).unwrap(), b"+PONG\r\n");
    let (ok, out) = cli(tls_port, &certs, Some("client"), &["PING"]);
    assert!(ok && out.trim() == "PONG", "{out}");
}

#[test]
fn tls_auth_clients_no_and_optional() {
    let _g = shared();
    let certs = Certs::new();
    for mode in ["no", "optional"] {
        let tls_port = free_port();
        let mut conf = certs.server_conf(tls_port);
        conf.push(("tls-auth-clients".into(), mode.into()));
        let ember = start(ServerKind::Ember, &conf);
        let (ok, out) = cli(tls_port, &certs, None, &["PING"]);
        assert!(
            ok && out.trim() == "PONG",
            "{mode}, no certificate: {out}\n{}",
            ember.output()
        );
        let (ok, out) = cli(tls_port, &certs, Some("client"), &["PING"]);
        assert!(ok && out.trim() == "PONG", "{mode}, a certificate: {out}");
        if mode == "optional" {
            // A certificate that is offered must still be valid.
            let (ok, out) = cli(tls_port, &certs, Some("stranger"), &["PING"]);
            assert!(!ok || !out.contains("PONG"), "optional, untrusted: {out}");
        }
    }
}

#[test]
fn redis_py_with_ssl() {
    let _g = shared();
    let certs = Certs::new();
    let tls_port = free_port();
    let ember = start(ServerKind::Ember, &certs.server_conf(tls_port));
    let script = r#"
import sys, redis
port, ca, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
r = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=ca,
                ssl_certfile=cert, ssl_keyfile=key, socket_timeout=5)
r.set("py", "x" * 100000)
assert r.get("py") == b"x" * 100000
p = r.pipeline()
for i in range(500):
    p.incr("counter")
assert p.execute()[-1] == 500
ps = r.pubsub()
ps.subscribe("ch")
ps.get_message(timeout=1)
r.publish("ch", "hello")
m = ps.get_message(timeout=2)
assert m and m["data"] == b"hello", m
print("ok", r.dbsize())
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(tls_port.to_string())
        .arg(certs.path("ca.crt"))
        .arg(certs.path("client.crt"))
        .arg(certs.path("client.key"))
        .output()
        .expect("python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.starts_with("ok 2"),
        "{text}\n{}",
        ember.output()
    );
}

#[test]
fn a_plaintext_client_on_the_tls_port_is_refused_cleanly() {
    let _g = shared();
    let certs = Certs::new();
    let tls_port = free_port();
    let mut ember = start(ServerKind::Ember, &certs.server_conf(tls_port));
    for request in [
        &b"PING\r\n"[..],
        b"*1\r\n$4\r\nPING\r\n",
        &[0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3],
    ] {
        let mut s = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], tls_port))).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request).unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        assert!(
            !got.windows(4).any(|w| w == b"PONG"),
            "a plaintext request was answered: {}",
            escape(&got)
        );
    }
    assert!(ember.is_running());
    let (ok, out) = cli(tls_port, &certs, Some("client"), &["PING"]);
    assert!(ok && out.trim() == "PONG", "{out}");
    assert!(!ember.output().contains("panicked"), "{}", ember.output());
}

#[test]
fn port_0_serves_tls_only_and_an_encrypted_key_needs_its_password() {
    let _g = shared();
    let certs = Certs::new();
    let dir = unique_temp_dir("tls-only");
    let tls_port = free_port();
    let mut args: Vec<String> = vec!["--port".into(), "0".into(), "--save".into(), "".into()];
    for (k, v) in certs.server_conf(tls_port) {
        args.push(format!("--{k}"));
        args.push(v);
    }
    let key_at = args.iter().position(|a| a == "--tls-key-file").unwrap() + 1;
    args[key_at] = certs.path("server-enc.key");
    args.push("--tls-key-file-pass".into());
    args.push("hunter2".into());
    let mut child = Command::new(ember_server_path())
        .args(&args)
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut served = false;
    for _ in 0..300 {
        let (ok, out) = cli(tls_port, &certs, Some("client"), &["PING"]);
        if ok && out.trim() == "PONG" {
            served = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, port) = cli(tls_port, &certs, Some("client"), &["CONFIG", "GET", "port"]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(served, "the TLS-only server never answered");
    assert_eq!(port.trim(), "port\n0");
    // The wrong password: the server does not start, and says why.
    args.pop();
    args.push("wrong".into());
    let out = Command::new(ember_server_path())
        .args(&args)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("tls-key-file-pass"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_set_tls_port_starts_a_tls_listener() {
    let _g = shared();
    let certs = Certs::new();
    let mut conf = certs.server_conf(0);
    conf.retain(|(k, _)| k != "tls-port");
    let ember = start(ServerKind::Ember, &conf);
    let mut c = ember.connect();
    let tls_port = free_port();
    let reply = c
        .command(&["CONFIG", "SET", "tls-port", &tls_port.to_string()])
        .unwrap();
    assert_eq!(reply, b"+OK\r\n", "{}", escape(&reply));
    let (ok, out) = cli(tls_port, &certs, Some("client"), &["PING"]);
    assert!(ok && out.trim() == "PONG", "{out}");
    // A missing certificate file is refused, and the listener stays.
    let reply = c
        .command(&["CONFIG", "SET", "tls-cert-file", "/nonexistent.crt"])
        .unwrap();
    assert_eq!(
        escape(&reply),
        escape(b"-ERR CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to update TLS configuration. Check server logs.\r\n")
    );
    let (ok, out) = cli(tls_port, &certs, Some("client"), &["PING"]);
    assert!(ok && out.trim() == "PONG", "{out}");
}
