package egress

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

func prefixes(ps ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

// noHostAddrs stands for a host whose addresses are all in refused ranges.
func noHostAddrs() ([]netip.Addr, error) { return nil, nil }

func TestEgressCheck(t *testing.T) {
	const metadata = "cloud metadata service; always refused"
	tests := []struct {
		addr   string
		allow  []string
		reason string // "" = permitted
	}{
		// Cloud metadata endpoints: refused even when allow-listed.
		{"169.254.169.254", nil, metadata},
		{"169.254.169.254", []string{"169.254.0.0/16"}, metadata},
		{"169.254.169.254", []string{"0.0.0.0/0"}, metadata},
		{"100.100.100.200", nil, metadata},
		{"100.100.100.200", []string{"100.64.0.0/10"}, metadata},
		{"100.100.100.200", []string{"100.100.100.200/32"}, metadata},
		{"fd00:ec2::254", []string{"fc00::/7"}, metadata},
		{"::ffff:169.254.169.254", []string{"::/0"}, metadata},
		{"::ffff:100.100.100.200", nil, metadata},
		{"64:ff9b::a9fe:a9fe", nil, metadata}, // NAT64 of 169.254.169.254
		{"64:ff9b::6464:64c8", []string{"64:ff9b::/96"}, metadata},
		{"::a9fe:a9fe", nil, metadata},                         // IPv4-compatible 169.254.169.254
		{"2002:a9fe:a9fe::1", []string{"2002::/16"}, metadata}, // 6to4 of 169.254.169.254
		// Every IPv6 form that embeds an IPv4 address, allow-listed as a
		// whole: the metadata services inside are refused all the same.
		{"2001:0:a9fe:a9fe::1", []string{"0.0.0.0/0", "::/0"}, metadata},                  // Teredo, server 169.254.169.254
		{"2001:0:4136:e378:8000:63bf:5601:5601", []string{"0.0.0.0/0", "::/0"}, metadata}, // Teredo, client ^5601:5601
		{"2001:0:6464:64c8::1", []string{"::/0"}, metadata},                               // Teredo, server 100.100.100.200
		{"::ffff:0:a9fe:a9fe", []string{"0.0.0.0/0", "::/0"}, metadata},                   // IPv4-translated
		{"64:ff9b:1::a9fe:a9fe", []string{"0.0.0.0/0", "::/0"}, metadata},                 // local-use NAT64, /96
		{"64:ff9b:1:a9fe:a9:fe00::", []string{"::/0"}, metadata},                          // local-use NAT64, /48 (RFC 6052)
		{"64:ff9b:1:a9:fe:a9fe::", []string{"::/0"}, metadata},                            // /56
		{"64:ff9b:1:0:a9:fea9:fe00:0", []string{"::/0"}, metadata},                        // /64
		{"64:ff9b:1:ffff:a8:3f81:1000:0", []string{"::/0"}, metadata},                     // /64 of 168.63.129.16
		{"2600:1f18::5efe:a9fe:a9fe", []string{"::/0"}, metadata},                         // ISATAP
		{"2600:1f18::200:5efe:a9fe:a9fe", []string{"::/0"}, metadata},                     // ISATAP, universal bit
		{"fe80::5efe:a9fe:a9fe", []string{"::/0"}, metadata},                              // ISATAP, link-local
		{"2001:0:808:808::1", []string{"::/0"}, ""},
		{"2001:0:4136:e378:8000:63bf:f7f7:f7f7", []string{"::/0"}, ""}, // client 8.8.8.8
		{"64:ff9b:1::808:808", []string{"::/0"}, ""},
		{"64:ff9b:1:808:8:800::", []string{"::/0"}, ""},
		{"::ffff:0:808:808", []string{"::/0"}, ""},
		{"2600:1f18::5efe:808:808", []string{"::/0"}, ""},
		{"2600:1f18::5efe:a00:1", nil, "private address"}, // ISATAP of 10.0.0.1
		{"2600:1f18::5efe:808:808", nil, ""},
		{"::a00:1", nil, "deprecated IPv4-compatible address"},
		{"::808:808", nil, "deprecated IPv4-compatible address"},
		{"2002:c0a8:101::1", nil, "private address"}, // 6to4 of 192.168.1.1
		{"2002:808:808::1", nil, ""},

		{"127.0.0.1", nil, "loopback address"},
		{"127.255.255.254", nil, "loopback address"},
		{"::1", nil, "loopback address"},
		{"10.1.2.3", nil, "private address"},
		{"172.16.0.1", nil, "private address"},
		{"172.31.255.255", nil, "private address"},
		{"192.168.1.1", nil, "private address"},
		{"::ffff:10.0.0.1", nil, "private address"},
		{"64:ff9b::a00:1", nil, "private address"}, // NAT64 of 10.0.0.1
		{"100.64.0.1", nil, "shared (carrier-grade NAT) address"},
		{"100.127.255.255", nil, "shared (carrier-grade NAT) address"},
		{"fc00::1", nil, "private (unique local) address"},
		{"fd12:3456::1", nil, "private (unique local) address"},
		{"169.254.1.1", nil, "link-local address"},
		{"fe80::1", nil, "link-local address"},
		{"fe80::1%eth0", nil, "link-local address"},
		{"fec0::1", nil, "site-local address"},
		{"0.0.0.0", nil, "unspecified"},
		{"0.1.2.3", nil, "unspecified"},
		{"::", nil, "unspecified address"},
		{"224.0.0.1", nil, "multicast address"},
		{"ff02::1", nil, "multicast address"},
		{"255.255.255.255", nil, "broadcast address"},
		{"240.0.0.1", nil, "reserved address"},
		{"168.63.129.16", []string{"168.63.0.0/16"}, metadata}, // Azure's WireServer
		{"192.0.0.192", []string{"192.0.0.0/24"}, metadata},    // Oracle Cloud

		// IANA special-purpose blocks (RFC 6890 and its successors).
		{"192.0.0.1", nil, "IETF protocol assignments"},
		{"192.0.0.255", nil, "IETF protocol assignments"},
		{"192.0.2.1", nil, "documentation address (TEST-NET-1)"},
		{"198.51.100.255", nil, "documentation address (TEST-NET-2)"},
		{"203.0.113.1", nil, "documentation address (TEST-NET-3)"},
		{"198.18.0.0", nil, "benchmarking address"},
		{"198.19.255.255", nil, "benchmarking address"},
		{"192.88.99.1", nil, "deprecated 6to4 relay anycast address"},
		{"64:ff9b:1::1", nil, "local-use IPv4/IPv6 translation address"},
		{"100::1", nil, "discard-only address"},
		{"2001::1", nil, "Teredo address"},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", nil, "Teredo address"},
		{"2001:2::1", nil, "benchmarking address"},
		{"2001:10::1", nil, "IETF protocol assignments"},
		{"2001:1ff:ffff::1", nil, "IETF protocol assignments"},
		{"2001:db8::1", nil, "documentation address"},
		{"3fff:fff::1", nil, "documentation address"},
		{"5f00::1", nil, "not global unicast"},
		{"4000::1", nil, "not global unicast"},
		{"::ffff:0:a00:1", nil, "not global unicast"},
		{"2002:c000:201::1", nil, "documentation address (TEST-NET-1)"}, // 6to4 of 192.0.2.1
		{"64:ff9b::c612:1", nil, "benchmarking address"},                // NAT64 of 198.18.0.1
		{"::ffff:203.0.113.5", nil, "documentation address (TEST-NET-3)"},

		// Public addresses, and the ranges' neighbours.
		{"8.8.8.8", nil, ""},
		{"2001:4860:4860::8888", nil, ""},
		{"172.32.0.1", nil, ""},
		{"172.15.255.255", nil, ""},
		{"100.128.0.1", nil, ""},
		{"100.63.255.255", nil, ""},
		{"169.255.0.1", nil, ""},
		{"11.0.0.1", nil, ""},
		{"::ffff:8.8.8.8", nil, ""},
		{"64:ff9b::808:808", nil, ""},
		{"192.0.1.255", nil, ""},
		{"192.0.3.0", nil, ""},
		{"198.17.255.255", nil, ""},
		{"198.20.0.0", nil, ""},
		{"203.0.112.255", nil, ""},
		{"2001:200::1", nil, ""},
		{"2001:db9::1", nil, ""},
		{"3fff:1000::1", nil, ""},
		{"2620:4f:8000::1", nil, ""},

		// The allow-list opens private ranges, and only those listed.
		{"127.0.0.1", []string{"127.0.0.1/32"}, ""},
		{"10.1.2.3", []string{"10.0.0.0/8"}, ""},
		{"192.168.1.1", []string{"10.0.0.0/8"}, "private address"},
		{"100.64.0.1", []string{"100.64.0.0/10"}, ""},
		{"169.254.1.1", []string{"169.254.0.0/16"}, ""},
		{"fd12::1", []string{"fd12::/16"}, ""},
		{"fd13::1", []string{"fd12::/16"}, "private (unique local) address"},
		{"::ffff:10.0.0.1", []string{"10.0.0.0/8"}, ""},
		{"192.0.2.1", []string{"192.0.2.0/24"}, ""},
		{"2001:db8::1", []string{"2001:db8::/32"}, ""},
		{"2001::1", []string{"2001::/32"}, ""},
	}
	for _, tt := range tests {
		err := Policy{Allow: prefixes(tt.allow...), HostAddrs: noHostAddrs}.Check(netip.MustParseAddr(tt.addr))
		if tt.reason == "" {
			if err != nil {
				t.Errorf("%s (allow %v): %v, want permitted", tt.addr, tt.allow, err)
			}
			continue
		}
		var ee *Error
		if !errors.As(err, &ee) {
			t.Errorf("%s (allow %v): %v, want an *Error", tt.addr, tt.allow, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.reason) || !strings.HasPrefix(msg, "egress policy refused a connection to ") {
			t.Errorf("%s (allow %v): %q, want the policy and %q", tt.addr, tt.allow, msg, tt.reason)
		}
		if tt.reason != metadata && !strings.Contains(msg, "allow-list it to permit") {
			t.Errorf("%s: %q does not say how to permit it", tt.addr, msg)
		}
	}
}

// The policy applies to the address being connected to, after DNS: a name
// that resolves to a refused address is refused, before any connection.
func TestEgressDialer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())

	for _, host := range []string{"localhost", "127.0.0.1", "[::ffff:127.0.0.1]"} {
		_, err := Policy{}.Dialer(0).DialContext(context.Background(), "tcp", host+":"+port)
		var ee *Error
		if !errors.As(err, &ee) || !ee.Addr.IsLoopback() || !strings.Contains(err.Error(), "loopback address") {
			t.Errorf("dial %s: %v, want refused as loopback", host, err)
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("%d connections reached the listener", n)
	}

	allowed := Policy{Allow: prefixes("127.0.0.0/8", "::1/128")}
	c, err := allowed.Dialer(0).DialContext(context.Background(), "tcp", "localhost:"+port)
	if err != nil {
		t.Fatalf("allow-listed: %v", err)
	}
	c.Close()

	// An IPv6 form of a metadata service is refused before any
	// connection, even with everything allow-listed.
	open := Policy{Allow: prefixes("0.0.0.0/0", "::/0")}
	for _, addr := range []string{"[2001:0:a9fe:a9fe::1]:80", "[::ffff:0:a9fe:a9fe]:80", "[64:ff9b:1::a9fe:a9fe]:80"} {
		_, err := open.Dialer(0).DialContext(context.Background(), "tcp", addr)
		if !IsRefusal(err) || !strings.Contains(err.Error(), "cloud metadata service; always refused") {
			t.Errorf("dial %s: %v, want refused as a metadata service", addr, err)
		}
	}

	// Not an IP address at all.
	if err := (Policy{}).control(context.Background(), "unix", "/run/docker.sock", nil); err == nil {
		t.Error("a Unix socket is permitted")
	}
}

// The host's own addresses are refused, whatever their range; an
// allow-list that names them permits them.
func TestEgressHostAddrs(t *testing.T) {
	own := func() ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("192.0.3.7"), netip.MustParseAddr("2a00:1450::7")}, nil
	}
	tests := []struct {
		addr   string
		allow  []string
		reason string // "" = permitted
	}{
		{"192.0.3.7", nil, "this host's own address; allow-list it to permit"},
		{"::ffff:192.0.3.7", nil, "this host's own address"},
		{"64:ff9b::c000:307", nil, "this host's own address"}, // NAT64 of 192.0.3.7
		{"2002:c000:307::1", nil, "this host's own address"},  // 6to4 of 192.0.3.7
		{"2a00:1450::7", nil, "this host's own address"},
		{"192.0.3.8", nil, ""},
		{"2a00:1450::8", nil, ""},
		{"192.0.3.7", []string{"192.0.3.7/32"}, ""},
	}
	for _, tt := range tests {
		err := Policy{Allow: prefixes(tt.allow...), HostAddrs: own}.Check(netip.MustParseAddr(tt.addr))
		switch {
		case tt.reason == "" && err != nil:
			t.Errorf("%s (allow %v): %v, want permitted", tt.addr, tt.allow, err)
		case tt.reason != "" && (!IsRefusal(err) || !strings.Contains(err.Error(), tt.reason)):
			t.Errorf("%s (allow %v): %v, want refused: %s", tt.addr, tt.allow, err, tt.reason)
		}
	}

	// A host whose addresses cannot be listed: the connection is not
	// made, and the failure is not a refusal (it may pass).
	broken := Policy{HostAddrs: func() ([]netip.Addr, error) { return nil, errors.New("netlink: no") }}
	if err := broken.Check(netip.MustParseAddr("192.0.3.9")); err == nil || IsRefusal(err) {
		t.Errorf("unlistable host addresses: %v, want a failure that is not a refusal", err)
	}

	// The real interfaces: every address of this host is refused by the
	// default policy, whatever its range.
	addrs, err := InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(addrs, netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("this host's addresses %v lack 127.0.0.1", addrs)
	}
	for _, a := range addrs {
		if err := (Policy{}).Check(a); !IsRefusal(err) {
			t.Errorf("this host's address %s: %v, want refused", a, err)
		}
	}
}
