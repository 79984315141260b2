package egress

import (
	"context"
	"errors"
	"net"
	"net/netip"
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
		{"::a00:1", nil, "private address"},
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
		{"255.255.255.255", nil, "reserved or broadcast address"},
		{"240.0.0.1", nil, "reserved or broadcast address"},

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

		// The allow-list opens private ranges, and only those listed.
		{"127.0.0.1", []string{"127.0.0.1/32"}, ""},
		{"10.1.2.3", []string{"10.0.0.0/8"}, ""},
		{"192.168.1.1", []string{"10.0.0.0/8"}, "private address"},
		{"100.64.0.1", []string{"100.64.0.0/10"}, ""},
		{"169.254.1.1", []string{"169.254.0.0/16"}, ""},
		{"fd12::1", []string{"fd12::/16"}, ""},
		{"fd13::1", []string{"fd12::/16"}, "private (unique local) address"},
		{"::ffff:10.0.0.1", []string{"10.0.0.0/8"}, ""},
	}
	for _, tt := range tests {
		err := Policy{Allow: prefixes(tt.allow...)}.Check(netip.MustParseAddr(tt.addr))
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
		_, err := Policy{}.Dialer().DialContext(context.Background(), "tcp", host+":"+port)
		var ee *Error
		if !errors.As(err, &ee) || !ee.Addr.IsLoopback() || !strings.Contains(err.Error(), "loopback address") {
			t.Errorf("dial %s: %v, want refused as loopback", host, err)
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("%d connections reached the listener", n)
	}

	allowed := Policy{Allow: prefixes("127.0.0.0/8", "::1/128")}
	c, err := allowed.Dialer().DialContext(context.Background(), "tcp", "localhost:"+port)
	if err != nil {
		t.Fatalf("allow-listed: %v", err)
	}
	c.Close()

	// Not an IP address at all.
	if err := (Policy{}).control(context.Background(), "unix", "/run/docker.sock", nil); err == nil {
		t.Error("a Unix socket is permitted")
	}
}
