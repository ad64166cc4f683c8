/* netaddr.h: IP addresses as the command line and the peers give them: parse "host" and a port
 * (IPv4, IPv6 with or without brackets, "localhost"), print a peer's address, tell loopback.
 * Pure: no I/O, no name resolution. */
#ifndef FDN_NETADDR_H
#define FDN_NETADDR_H

#include <netinet/in.h>
#include <sys/socket.h>

#define FDN_ADDR_STRLEN 46 /* INET6_ADDRSTRLEN */

/* host (an IP literal, "[v6]", or "localhost") and port into *ss, *len: 0, or -1 when host is
 * not an IP address or port is outside 0..65535. */
int fdn_addr_parse(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len);

/* The IP (an IPv4-mapped IPv6 address as plain IPv4) and port of sa; "" and 0 for another
 * family. */
void fdn_addr_string(const struct sockaddr *sa, char ip[FDN_ADDR_STRLEN], int *port);

/* Whether ss is a loopback address (127.0.0.0/8, ::1, or ::ffff:127.x.y.z). */
int fdn_addr_is_loopback(const struct sockaddr_storage *ss);

#endif
