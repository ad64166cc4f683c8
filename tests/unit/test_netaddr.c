/* test_netaddr.c: unit tests of the address helpers: IPv4, IPv6 with and without brackets,
 * "localhost", refusals (names, ports out of range), printing (IPv4-mapped as IPv4), loopback. */
#include <arpa/inet.h>
#include <string.h>

#include "check.h"
#include "netaddr.h"

static void test_parse(void)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    CHECK(fdn_addr_parse("10.1.2.3", 80, &ss, &len) == 0);
    CHECK(ss.ss_family == AF_INET && len == sizeof(struct sockaddr_in));
    CHECK(ntohs(((struct sockaddr_in *)&ss)->sin_port) == 80);
    CHECK(fdn_addr_parse("localhost", 1, &ss, &len) == 0);
    CHECK(ss.ss_family == AF_INET && fdn_addr_is_loopback(&ss));
    CHECK(fdn_addr_parse("::1", 0, &ss, &len) == 0);
    CHECK(ss.ss_family == AF_INET6 && len == sizeof(struct sockaddr_in6));
    CHECK(fdn_addr_parse("[fe80::1]", 65535, &ss, &len) == 0);
    CHECK(ss.ss_family == AF_INET6 && ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) == 65535);
    CHECK(fdn_addr_parse("example.org", 80, &ss, &len) < 0); /* no name resolution */
    CHECK(fdn_addr_parse("10.1.2.3", -1, &ss, &len) < 0);
    CHECK(fdn_addr_parse("10.1.2.3", 65536, &ss, &len) < 0);
    CHECK(fdn_addr_parse(NULL, 80, &ss, &len) < 0);
    CHECK(fdn_addr_parse("[::1", 80, &ss, &len) < 0);
    CHECK(fdn_addr_parse("", 80, &ss, &len) < 0);
}

static void test_string(void)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char ip[FDN_ADDR_STRLEN];
    int port;
    fdn_addr_parse("192.168.7.9", 4242, &ss, &len);
    fdn_addr_string((struct sockaddr *)&ss, ip, &port);
    CHECK_STR(ip, "192.168.7.9");
    CHECK(port == 4242);
    fdn_addr_parse("::ffff:127.0.0.5", 7, &ss, &len); /* an IPv4 peer on a dual-stack listener */
    fdn_addr_string((struct sockaddr *)&ss, ip, &port);
    CHECK_STR(ip, "127.0.0.5");
    CHECK(port == 7 && fdn_addr_is_loopback(&ss));
    fdn_addr_parse("2001:db8::2", 9, &ss, &len);
    fdn_addr_string((struct sockaddr *)&ss, ip, &port);
    CHECK_STR(ip, "2001:db8::2");
    CHECK(!fdn_addr_is_loopback(&ss));
    struct sockaddr other = {.sa_family = AF_UNIX};
    fdn_addr_string(&other, ip, &port);
    CHECK_STR(ip, "");
    CHECK(port == 0);
}

static void test_loopback(void)
{
    struct sockaddr_storage ss;
    socklen_t len;
    const char *yes[] = {"127.0.0.1", "127.255.0.9", "::1"};
    const char *no[] = {"128.0.0.1", "0.0.0.0", "::", "::ffff:10.0.0.1"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        CHECK(fdn_addr_parse(yes[i], 1, &ss, &len) == 0 && fdn_addr_is_loopback(&ss));
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        CHECK(fdn_addr_parse(no[i], 1, &ss, &len) == 0 && !fdn_addr_is_loopback(&ss));
}

int main(void)
{
    test_parse();
    test_string();
    test_loopback();
    return check_summary("netaddr");
}
