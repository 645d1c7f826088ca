//! Protected mode and what counts as a local client, as Redis 7.0 decides
//! them (networking.c's clientAcceptHandler and islocalClient): with
//! `protected-mode yes` and no password for the default user, a client
//! that is not local gets the DENIED text and is disconnected. The same
//! notion of "local" gates the `enable-*-command local` settings.

use super::Server;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Redis 7.0's reply to a refused client, byte for byte.
pub const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Redis's islocalClient: a unix socket client, or a peer whose address is
/// exactly 127.0.0.1 or ::1. Not the whole 127/8 (a peer on 127.0.0.2 is
/// not local), and not an IPv4-mapped IPv6 address.
pub fn is_local(peer: &SocketAddr, unix_socket: bool) -> bool {
    unix_socket
        || matches!(peer.ip(), IpAddr::V4(ip) if ip == Ipv4Addr::LOCALHOST)
        || matches!(peer.ip(), IpAddr::V6(ip) if ip == Ipv6Addr::LOCALHOST)
}

/// Whether the default user can be used without a password: its `nopass`
/// flag, as Redis's protected mode tests it.
pub fn default_user_has_no_password(srv: &Server) -> bool {
    srv.acl.default_user_nopass()
}

/// The protected-mode decision for a new connection: true when it must be
/// refused with [`DENIED`]. Redis 7.0 does not look at `bind` here (its
/// default bind is all interfaces).
pub fn refuses(srv: &Server, peer: &SocketAddr, unix_socket: bool) -> bool {
    srv.config.read().protected_mode
        && default_user_has_no_password(srv)
        && !is_local(peer, unix_socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_loopback_addresses_and_unix_sockets_are_local() {
        let a = |s: &str| s.parse::<SocketAddr>().expect("address");
        assert!(is_local(&a("127.0.0.1:5000"), false));
        assert!(is_local(&a("[::1]:5000"), false));
        assert!(!is_local(&a("127.0.0.2:5000"), false));
        assert!(!is_local(&a("[::ffff:127.0.0.1]:5000"), false));
        assert!(!is_local(&a("10.1.2.3:5000"), false));
        assert!(is_local(&a("0.0.0.0:0"), true));
    }
}
