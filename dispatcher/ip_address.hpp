// Which kind of address a media URL led libcurl to: Plivo fetches media from the public
// internet, so a URL that reaches a private, loopback or otherwise local address works
// here and fails there (and probing it would let a message reach into our network).
#pragma once

#include <string>

namespace plivo {

enum class AddressKind {
    Public,
    Private,      // 10/8, 172.16/12, 192.168/16
    Loopback,     // 127/8, ::1
    LinkLocal,    // 169.254/16, fe80::/10
    UniqueLocal,  // fc00::/7
    SharedCgnat,  // 100.64/10
    ThisNetwork,  // 0/8, ::
    Multicast,    // 224/4, ff00::/8
    Reserved,     // 240/4 and 255.255.255.255, benchmarking, documentation ranges
    Invalid,      // not an IPv4 or IPv6 literal
};

// "private", "loopback", …: for error messages.
const char* address_kind_name(AddressKind kind);

// Classifies an IPv4 ("10.0.0.5") or IPv6 ("fe80::1", "::ffff:10.0.0.5") literal, as
// libcurl reports the address it connected to. IPv4-mapped and IPv4-compatible IPv6
// addresses are judged by their IPv4 part; NAT64 (64:ff9b::/96) likewise.
AddressKind classify_address(const std::string& address);

}  // namespace plivo
