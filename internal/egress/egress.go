// Package egress is the policy for Gatehouse's outbound connections: the
// dialer and HTTP client that every target, the SCIM client and its token
// requests connect through.
package egress

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Policy is the egress policy for outbound connections to addresses that users
// (not operators) choose, such as webhook URLs: it keeps a webhook from
// reaching the cloud metadata service or the private network it runs in
// (server-side request forgery).
//
// Refused by default: the unspecified addresses (0.0.0.0/8, ::), loopback
// (127.0.0.0/8, ::1), private ranges (10.0.0.0/8, 172.16.0.0/12,
// 192.168.0.0/16, fc00::/7, the deprecated site-local fec0::/10), shared
// address space (100.64.0.0/10, where Alibaba Cloud's metadata service
// 100.100.100.200 lives), link-local (169.254.0.0/16, fe80::/10), multicast,
// broadcast and reserved (240.0.0.0/4) addresses. IPv6 addresses that carry
// an IPv4 address — IPv4-mapped (::ffff:0:0/96), the deprecated
// IPv4-compatible (::/96, which a host's automatic sit0 tunnel sends over
// IPv4), NAT64 (64:ff9b::/96) and 6to4 (2002::/16) — are judged by the IPv4
// address too.
//
// An address inside an Allow prefix is permitted, whatever its range, except
// the cloud metadata endpoints — 169.254.169.254, 100.100.100.200 and AWS's
// fd00:ec2::254 — which are always refused: credentials live there and no
// webhook has a reason to call them.
//
// The policy is applied by the dialer's Control hook to the address actually
// being connected to, after DNS resolution, so a name that resolves (or is
// rebound) to a refused address is refused too.
type Policy struct {
	Allow []netip.Prefix
}

// Error reports a connection the egress policy refused. Targets
// classify it as Permanent.
type Error struct {
	Addr   netip.Addr
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("egress policy refused a connection to %s (%s)", e.Addr, e.Reason)
}

var (
	metadataAddrs = []netip.Addr{
		netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack…
		netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
		netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
	}
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	ipv4Compat = netip.MustParsePrefix("::/96")
	sixToFour  = netip.MustParsePrefix("2002::/16")
)

// refusedRanges are the ranges refused unless allow-listed, with the reason
// given in the error.
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
	{netip.MustParsePrefix("192.168.0.0/16"), "private address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved or broadcast address"},
	{netip.MustParsePrefix("::/128"), "unspecified address"},
	{netip.MustParsePrefix("::1/128"), "loopback address"},
	{netip.MustParsePrefix("fc00::/7"), "private (unique local) address"},
	{netip.MustParsePrefix("fe80::/10"), "link-local address"},
	{netip.MustParsePrefix("fec0::/10"), "site-local address"},
	{netip.MustParsePrefix("ff00::/8"), "multicast address"},
}

// Check reports whether the policy permits connecting to addr; the error is
// an *Error.
func (e Policy) Check(addr netip.Addr) error {
	addr = addr.Unmap().WithZone("")
	candidates := []netip.Addr{addr}
	if addr.Is6() {
		b := addr.As16()
		switch {
		case nat64.Contains(addr), ipv4Compat.Contains(addr):
			candidates = append(candidates, netip.AddrFrom4([4]byte(b[12:])))
		case sixToFour.Contains(addr):
			candidates = append(candidates, netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	for _, a := range candidates {
		for _, m := range metadataAddrs {
			if a == m {
				return &Error{Addr: addr, Reason: "cloud metadata service; always refused"}
			}
		}
	}
	for _, p := range e.Allow {
		if p.Contains(addr) {
			return nil
		}
	}
	for _, a := range candidates {
		for _, r := range refusedRanges {
			if r.p.Contains(a) {
				return &Error{Addr: addr, Reason: r.reason + "; allow-list it to permit"}
			}
		}
	}
	return nil
}

// control is a net.Dialer ControlContext hook: address is the resolved
// "ip:port" about to be connected to.
func (e Policy) control(_ context.Context, network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// Not an IP address (a Unix socket?): nothing this policy allows.
		return &Error{Reason: fmt.Sprintf("unexpected %s address %q", network, address)}
	}
	return e.Check(ap.Addr())
}

// Dialer returns a dialer that applies the policy to every connection.
func (e Policy) Dialer() *net.Dialer {
	return &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, ControlContext: e.control}
}

// Client returns an HTTP client that applies the policy, ignores proxy
// settings from the environment (a proxy would make the connection, and
// the policy would see only the proxy's address), does not follow redirects
// (the redirect answer is returned as it is) and gives up on a request after
// timeout (0: no limit besides the request's context).
func (e Policy) Client(timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           e.Dialer().DialContext,
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
