// Package egress is the policy for Gatehouse's outbound connections: the
// dialer and HTTP client that every target (webhook, Resend, SMTP,
// EventBridge, SCIM), the SCIM client's token requests and the push connect
// through.
package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"syscall"
	"time"
)

// Policy is the egress policy: it keeps a target from reaching the cloud
// metadata service, this host, or the private network Gatehouse runs in
// (server-side request forgery), whether through its configured address,
// a name that resolves (or is rebound) to such an address, or an IPv6 form
// that carries one.
//
// Refused unless allow-listed (the reasons are those of refusedRanges):
//
//   - IPv4: 0.0.0.0/8 ("this network"), 10.0.0.0/8, 100.64.0.0/10 (shared,
//     carrier-grade NAT), 127.0.0.0/8, 169.254.0.0/16, 172.16.0.0/12,
//     192.0.0.0/24 (IETF protocol assignments), 192.0.2.0/24,
//     198.51.100.0/24 and 203.0.113.0/24 (documentation), 192.88.99.0/24
//     (the deprecated 6to4 relay anycast), 192.168.0.0/16, 198.18.0.0/15
//     (benchmarking), 224.0.0.0/4 (multicast), 240.0.0.0/4 (reserved) and
//     255.255.255.255;
//   - IPv6: ::/128, ::1/128, ::/96 (the deprecated IPv4-compatible
//     addresses, which a host's automatic sit0 tunnel sends over IPv4),
//     64:ff9b:1::/48 (local-use translation), 100::/64 (discard-only),
//     2001::/32 (Teredo), 2001:2::/48 (benchmarking), 2001::/23 (IETF
//     protocol assignments), 2001:db8::/32 and 3fff::/20 (documentation),
//     fc00::/7 (unique local), fe80::/10 (link-local), fec0::/10
//     (site-local), ff00::/8 (multicast), and everything else outside
//     global unicast 2000::/3 except the NAT64 prefix 64:ff9b::/96;
//   - IPv6 addresses that carry an IPv4 address (embeddedIPv4s: IPv4-mapped,
//     judged as the IPv4 address, IPv4-translated, IPv4-compatible, NAT64,
//     local-use NAT64, 6to4, Teredo, ISATAP) when the IPv4 address is
//     refused;
//   - every address of this host's own network interfaces (HostAddrs), so
//     that a target cannot reach Gatehouse's own listeners or the services
//     beside it through the host's public address.
//
// An address inside an Allow prefix is permitted, whatever its range,
// except the cloud metadata endpoints — 169.254.169.254 (AWS, GCP, Azure,
// OpenStack…), 100.100.100.200 (Alibaba Cloud), 168.63.129.16 (Azure's
// WireServer), 192.0.0.192 (Oracle Cloud) and fd00:ec2::254 (AWS over IPv6),
// directly or inside an IPv6 form — which are always refused: credentials
// live there and no target has a reason to call them.
//
// The policy is applied by the dialer's Control hook to the address
// actually being connected to, after DNS resolution, to every connection
// (each address a name resolves to, each redirect, each retry).
type Policy struct {
	// Allow lists the prefixes permitted whatever their range.
	Allow []netip.Prefix
	// HostAddrs lists this host's own addresses (default: the addresses
	// of its network interfaces, read at each connection).
	HostAddrs func() ([]netip.Addr, error)
}

// Error reports a connection the egress policy refused. Every target
// classifies it as a permanent failure: it fails the same way until the
// configuration changes.
type Error struct {
	Addr   netip.Addr
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("egress policy refused a connection to %s (%s)", e.Addr, e.Reason)
}

// IsRefusal reports whether err is, or wraps, a refusal of the policy.
func IsRefusal(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

var (
	metadataAddrs = []netip.Addr{
		netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack…
		netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
		netip.MustParseAddr("168.63.129.16"),   // Azure's WireServer (a public address)
		netip.MustParseAddr("192.0.0.192"),     // Oracle Cloud
		netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
	}
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local     = netip.MustParsePrefix("64:ff9b:1::/48")
	ipv4Compat     = netip.MustParsePrefix("::/96")
	ipv4Translated = netip.MustParsePrefix("::ffff:0:0:0/96")
	sixToFour      = netip.MustParsePrefix("2002::/16")
	teredo         = netip.MustParsePrefix("2001::/32")
	globalUnicast  = netip.MustParsePrefix("2000::/3")
)

// refusedRanges are the ranges refused unless allow-listed, with the reason
// given in the error; the first that contains an address names it.
var refusedRanges = []struct {
	p      netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified or \"this network\" address"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT) address"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local address"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation address (TEST-NET-1)"},
	{netip.MustParsePrefix("192.88.99.0/24"), "deprecated 6to4 relay anycast address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking address"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation address (TEST-NET-2)"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation address (TEST-NET-3)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast address"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved address"},

	{netip.MustParsePrefix("::/128"), "unspecified address"},
	{netip.MustParsePrefix("::1/128"), "loopback address"},
	{ipv4Compat, "deprecated IPv4-compatible address"},
	{nat64Local, "local-use IPv4/IPv6 translation address"},
	{netip.MustParsePrefix("100::/64"), "discard-only address"},
	{teredo, "Teredo address"},
	{netip.MustParsePrefix("2001:2::/48"), "benchmarking address"},
	{netip.MustParsePrefix("2001::/23"), "IETF protocol assignments"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation address"},
	{netip.MustParsePrefix("3fff::/20"), "documentation address"},
	{netip.MustParsePrefix("fc00::/7"), "private (unique local) address"},
	{netip.MustParsePrefix("fe80::/10"), "link-local address"},
	{netip.MustParsePrefix("fec0::/10"), "site-local address"},
	{netip.MustParsePrefix("ff00::/8"), "multicast address"},
}

// embeddedIPv4s returns the IPv4 addresses an IPv6 address carries, in
// every form that embeds one:
//
//   - IPv4-translated ::ffff:0:a.b.c.d (::ffff:0:0/96, RFC 2765) and the
//     deprecated IPv4-compatible ::a.b.c.d (::/96); IPv4-mapped
//     ::ffff:a.b.c.d is unmapped before;
//   - NAT64: the well-known prefix 64:ff9b::/96 (the last 32 bits), and
//     the local-use 64:ff9b:1::/48 (RFC 8215), whose operator picks the
//     prefix length: each position RFC 6052 §2.2 gives a prefix of 48, 56,
//     64 or 96 bits;
//   - 6to4 (2002::/16): bits 16–47;
//   - Teredo (2001::/32): the server's IPv4 address in bits 32–63, and the
//     client's in the last 32 bits, inverted;
//   - ISATAP, in any prefix: an interface identifier 0000:5efe or
//     0200:5efe followed by the IPv4 address (RFC 5214 §6.1).
func embeddedIPv4s(a netip.Addr) []netip.Addr {
	if !a.Is6() || a.Is4In6() {
		return nil
	}
	b := a.As16()
	v4 := func(x0, x1, x2, x3 byte) netip.Addr { return netip.AddrFrom4([4]byte{x0, x1, x2, x3}) }
	var out []netip.Addr
	switch {
	case ipv4Translated.Contains(a), nat64.Contains(a), ipv4Compat.Contains(a):
		out = append(out, v4(b[12], b[13], b[14], b[15]))
	case nat64Local.Contains(a):
		out = append(out,
			v4(b[6], b[7], b[9], b[10]),    // /48
			v4(b[7], b[9], b[10], b[11]),   // /56
			v4(b[9], b[10], b[11], b[12]),  // /64
			v4(b[12], b[13], b[14], b[15])) // /96
	case sixToFour.Contains(a):
		out = append(out, v4(b[2], b[3], b[4], b[5]))
	case teredo.Contains(a):
		out = append(out, v4(b[4], b[5], b[6], b[7]), v4(^b[12], ^b[13], ^b[14], ^b[15]))
	}
	if (b[8] == 0 || b[8] == 2) && b[9] == 0 && b[10] == 0x5e && b[11] == 0xfe {
		out = append(out, v4(b[12], b[13], b[14], b[15]))
	}
	return out
}

// refusedReason is why the policy refuses a (unless allow-listed), or "".
func refusedReason(a netip.Addr) string {
	for _, r := range refusedRanges {
		if r.p.Contains(a) {
			return r.reason
		}
	}
	if a.Is6() && !globalUnicast.Contains(a) && !nat64.Contains(a) {
		return "reserved IPv6 address, not global unicast (2000::/3)"
	}
	return ""
}

// Check reports whether the policy permits connecting to addr; a refusal
// is an *Error. An error that is not an *Error (this host's addresses
// could not be listed) may pass.
func (p Policy) Check(addr netip.Addr) error {
	addr = addr.Unmap().WithZone("")
	candidates := append([]netip.Addr{addr}, embeddedIPv4s(addr)...)
	for _, a := range candidates {
		if slices.Contains(metadataAddrs, a) {
			return &Error{Addr: addr, Reason: "cloud metadata service; always refused"}
		}
	}
	for _, pr := range p.Allow {
		if pr.Contains(addr) {
			return nil
		}
	}
	for _, a := range candidates {
		if reason := refusedReason(a); reason != "" {
			return &Error{Addr: addr, Reason: reason + "; allow-list it to permit"}
		}
	}
	own, err := p.hostAddrs()
	if err != nil {
		return fmt.Errorf("egress policy: cannot list this host's addresses: %w", err)
	}
	for _, a := range candidates {
		if slices.Contains(own, a) {
			return &Error{Addr: addr, Reason: "this host's own address; allow-list it to permit"}
		}
	}
	return nil
}

func (p Policy) hostAddrs() ([]netip.Addr, error) {
	if p.HostAddrs != nil {
		return p.HostAddrs()
	}
	return InterfaceAddrs()
}

// InterfaceAddrs returns the addresses of this host's network interfaces.
func InterfaceAddrs() ([]netip.Addr, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(as))
	for _, a := range as {
		var ip net.IP
		switch a := a.(type) {
		case *net.IPNet:
			ip = a.IP
		case *net.IPAddr:
			ip = a.IP
		}
		if addr, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, addr.Unmap())
		}
	}
	return out, nil
}

// control is a net.Dialer ControlContext hook: address is the resolved
// "ip:port" about to be connected to.
func (p Policy) control(_ context.Context, network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// Not an IP address (a Unix socket?): nothing this policy allows.
		return &Error{Reason: fmt.Sprintf("unexpected %s address %q", network, address)}
	}
	return p.Check(ap.Addr())
}

// Dialer returns a dialer that applies the policy to every connection and
// gives up connecting after timeout (0: 10 s).
func (p Policy) Dialer(timeout time.Duration) *net.Dialer {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, ControlContext: p.control}
}

// Client returns an HTTP client that applies the policy, ignores proxy
// settings from the environment (a proxy would make the connection, and
// the policy would see only the proxy's address), does not follow redirects
// (the redirect answer is returned as it is) and gives up on a request after
// timeout (0: no limit besides the request's context).
func (p Policy) Client(timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           p.Dialer(0).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	return &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: noRedirects}
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
