// The address classifier behind the media check's refusal of non-public addresses.
#include <gtest/gtest.h>

#include "ip_address.hpp"

namespace plivo {
namespace {

struct Case {
    const char* address;
    AddressKind kind;
};

class ClassifyAddress : public ::testing::TestWithParam<Case> {};

TEST_P(ClassifyAddress, Kind) {
    EXPECT_EQ(address_kind_name(classify_address(GetParam().address)),
              std::string(address_kind_name(GetParam().kind)))
        << GetParam().address;
}

INSTANTIATE_TEST_SUITE_P(
    IPv4, ClassifyAddress,
    ::testing::Values(
        Case{"8.8.8.8", AddressKind::Public}, Case{"93.184.216.34", AddressKind::Public},
        Case{"10.0.0.5", AddressKind::Private}, Case{"10.255.255.255", AddressKind::Private},
        Case{"172.16.0.1", AddressKind::Private}, Case{"172.31.255.255", AddressKind::Private},
        Case{"172.15.255.255", AddressKind::Public}, Case{"172.32.0.0", AddressKind::Public},
        Case{"192.168.1.1", AddressKind::Private}, Case{"192.169.0.1", AddressKind::Public},
        Case{"127.0.0.1", AddressKind::Loopback}, Case{"127.255.0.9", AddressKind::Loopback},
        Case{"169.254.169.254", AddressKind::LinkLocal},
        Case{"100.64.0.1", AddressKind::SharedCgnat},
        Case{"100.127.255.255", AddressKind::SharedCgnat}, Case{"100.128.0.0", AddressKind::Public},
        Case{"100.63.255.255", AddressKind::Public}, Case{"0.0.0.0", AddressKind::ThisNetwork},
        Case{"0.1.2.3", AddressKind::ThisNetwork}, Case{"224.0.0.1", AddressKind::Multicast},
        Case{"239.255.255.250", AddressKind::Multicast},
        Case{"255.255.255.255", AddressKind::Reserved}, Case{"192.0.2.10", AddressKind::Reserved},
        Case{"198.18.0.1", AddressKind::Reserved}));

INSTANTIATE_TEST_SUITE_P(IPv6, ClassifyAddress,
                         ::testing::Values(Case{"2606:4700:4700::1111", AddressKind::Public},
                                           Case{"::1", AddressKind::Loopback},
                                           Case{"[::1]", AddressKind::Loopback},
                                           Case{"::", AddressKind::ThisNetwork},
                                           Case{"fc00::1", AddressKind::UniqueLocal},
                                           Case{"fd12:3456::1", AddressKind::UniqueLocal},
                                           Case{"fe80::1", AddressKind::LinkLocal},
                                           Case{"fe80::1%eth0", AddressKind::LinkLocal},
                                           Case{"febf::1", AddressKind::LinkLocal},
                                           Case{"ff02::1", AddressKind::Multicast},
                                           Case{"::ffff:10.0.0.5", AddressKind::Private},
                                           Case{"::ffff:127.0.0.1", AddressKind::Loopback},
                                           Case{"::FFFF:8.8.8.8", AddressKind::Public},
                                           Case{"::ffff:a9fe:a9fe", AddressKind::LinkLocal},
                                           Case{"64:ff9b::10.1.2.3", AddressKind::Private},
                                           Case{"2001:db8::1", AddressKind::Reserved}));

INSTANTIATE_TEST_SUITE_P(Invalid, ClassifyAddress,
                         ::testing::Values(Case{"", AddressKind::Invalid},
                                           Case{"localhost", AddressKind::Invalid},
                                           Case{"10.0.0", AddressKind::Invalid},
                                           Case{"256.1.1.1", AddressKind::Invalid},
                                           Case{"1.2.3.4 ", AddressKind::Invalid}));

}  // namespace
}  // namespace plivo
