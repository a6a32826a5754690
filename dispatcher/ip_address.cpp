#include "ip_address.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "pure_cpp.hpp"

namespace plivo {

namespace {

AddressKind classify_v4(std::uint32_t a) {
    auto in = [a](std::uint32_t network, int bits) {
        std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
        return (a & mask) == network;
    };
    if (in(0x00000000, 8)) return AddressKind::ThisNetwork;
    if (in(0x0A000000, 8) || in(0xAC100000, 12) || in(0xC0A80000, 16)) return AddressKind::Private;
    if (in(0x7F000000, 8)) return AddressKind::Loopback;
    if (in(0xA9FE0000, 16)) return AddressKind::LinkLocal;
    if (in(0x64400000, 10)) return AddressKind::SharedCgnat;
    if (in(0xE0000000, 4)) return AddressKind::Multicast;
    // 192.0.0/24 (IETF protocol), 192.0.2/24, 198.51.100/24, 203.0.113/24 (documentation),
    // 198.18/15 (benchmarking), 240/4 and the broadcast address.
    if (in(0xC0000000, 24) || in(0xC0000200, 24) || in(0xC6336400, 24) || in(0xCB007100, 24) ||
        in(0xC6120000, 15) || in(0xF0000000, 4)) {
        return AddressKind::Reserved;
    }
    return AddressKind::Public;
}

std::uint32_t v4_at(const unsigned char* bytes) {
    return std::uint32_t{bytes[0]} << 24 | std::uint32_t{bytes[1]} << 16 |
           std::uint32_t{bytes[2]} << 8 | std::uint32_t{bytes[3]};
}

AddressKind classify_v6(const std::array<unsigned char, 16>& b) {
    static const unsigned char kZero[16] = {0};
    auto zeros = [&b](std::size_t from, std::size_t to) {
        return std::memcmp(b.data() + from, kZero, to - from) == 0;
    };
    if (zeros(0, 16)) return AddressKind::ThisNetwork;             // ::
    if (zeros(0, 15) && b[15] == 1) return AddressKind::Loopback;  // ::1
    // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible, deprecated), 64:ff9b::a.b.c.d (NAT64).
    if (zeros(0, 10) && b[10] == 0xff && b[11] == 0xff) return classify_v4(v4_at(&b[12]));
    if (zeros(0, 12)) return classify_v4(v4_at(&b[12]));
    if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && zeros(4, 12))
        return classify_v4(v4_at(&b[12]));
    if ((b[0] & 0xfe) == 0xfc) return AddressKind::UniqueLocal;                // fc00::/7
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressKind::LinkLocal;  // fe80::/10
    // fec0::/10: site-local, the deprecated forerunner of fc00::/7.
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return AddressKind::UniqueLocal;
    if (b[0] == 0xff) return AddressKind::Multicast;  // ff00::/8
    // 2001:db8::/32: documentation.
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return AddressKind::Reserved;
    return AddressKind::Public;
}

}  // namespace

const char* address_kind_name(AddressKind kind) {
    switch (kind) {
        case AddressKind::Public:
            return "public";
        case AddressKind::Private:
            return "private";
        case AddressKind::Loopback:
            return "loopback";
        case AddressKind::LinkLocal:
            return "link-local";
        case AddressKind::UniqueLocal:
            return "unique-local";
        case AddressKind::SharedCgnat:
            return "shared (CGNAT)";
        case AddressKind::ThisNetwork:
            return "unspecified";
        case AddressKind::Multicast:
            return "multicast";
        case AddressKind::Reserved:
            return "reserved";
        case AddressKind::Invalid:
            return "invalid";
    }
    return "invalid";
}

AddressKind classify_address(const std::string& address) {
    std::string text = address;
    // "[::1]" and a zone ("fe80::1%eth0") as some tools write them.
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
        text = text.substr(1, text.size() - 2);
    if (std::size_t zone = text.find('%'); zone != std::string::npos) text.resize(zone);
    in_addr v4{};
    if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
        return classify_v4(ntohl(v4.s_addr));
    }
    std::array<unsigned char, 16> v6{};
    if (inet_pton(AF_INET6, text.c_str(), v6.data()) == 1) return classify_v6(v6);
    return AddressKind::Invalid;
}

}  // namespace plivo
