// Package pgfault is a TCP proxy in front of a PostgreSQL server, for tests
// that need the database to fail as it does in production: unreachable
// (stopped, network cut), or a connection lost with a COMMIT on its way to
// the server, or with the server's answer to it on its way back.
//
// It understands just enough of the wire protocol (version 3, without TLS:
// connect with sslmode=disable) to recognise a COMMIT — a simple query, or
// the Bind of a statement prepared from it (the extended protocol, as in a
// pipelined batch) — and the CommandComplete that answers it.
package pgfault

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
)

// Proxy forwards connections to a PostgreSQL server.
type Proxy struct {
	target string
	url    string
	ln     net.Listener

	mu    sync.Mutex
	down  bool
	conns map[*link]struct{}
	// One-shot faults, armed by LoseNextCommit and LoseNextCommitAnswer.
	loseCommit, loseAnswer bool
	wg                     sync.WaitGroup
}

// link is one proxied connection.
type link struct {
	client, server net.Conn
	once           sync.Once
	// commits are the names of the statements the client prepared from
	// COMMIT on this connection ("" for the unnamed one).
	commits map[string]bool
}

func (l *link) close() {
	l.once.Do(func() {
		l.client.Close()
		l.server.Close()
	})
}

// Start listens on a loopback port and forwards to the server of the
// PostgreSQL URL pgURL (postgres://…).
func Start(pgURL string) (*Proxy, error) {
	u, err := url.Parse(pgURL)
	if err != nil {
		return nil, err
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u.Host = ln.Addr().String()
	p := &Proxy{target: target, url: u.String(), ln: ln, conns: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// URL is the PostgreSQL URL given to Start, leading through the proxy.
func (p *Proxy) URL() string { return p.url }

// Down cuts every connection and refuses new ones until Up.
func (p *Proxy) Down() {
	p.mu.Lock()
	p.down = true
	for l := range p.conns {
		l.close()
	}
	p.mu.Unlock()
}

// Up accepts connections again.
func (p *Proxy) Up() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// LoseNextCommit makes the next COMMIT never reach the server: the proxy
// cuts that connection instead of forwarding it.
func (p *Proxy) LoseNextCommit() {
	p.mu.Lock()
	p.loseCommit = true
	p.mu.Unlock()
}

// LoseNextCommitAnswer lets the next COMMIT reach the server, and cuts the
// connection instead of forwarding the server's answer that it committed.
func (p *Proxy) LoseNextCommitAnswer() {
	p.mu.Lock()
	p.loseAnswer = true
	p.mu.Unlock()
}

// Armed reports whether a fault armed by LoseNextCommit or
// LoseNextCommitAnswer is still waiting for its COMMIT.
func (p *Proxy) Armed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.loseCommit || p.loseAnswer
}

// Close stops the proxy and cuts every connection.
func (p *Proxy) Close() {
	p.ln.Close()
	p.Down()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		l := &link{client: c, server: s}
		p.mu.Lock()
		p.conns[l] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(l, c, s, true)
		go p.pipe(l, s, c, false)
	}
}

// pipe copies messages from src to dst, one at a time, until either side
// closes or a fault cuts the link.
func (p *Proxy) pipe(l *link, src, dst net.Conn, fromClient bool) {
	defer p.wg.Done()
	defer func() {
		l.close()
		p.mu.Lock()
		delete(p.conns, l)
		p.mu.Unlock()
	}()
	// The client's first message (startup) has no type byte.
	first := fromClient
	for {
		msg, err := readMessage(src, first)
		if err != nil {
			return
		}
		first = false
		if p.fault(l, msg, fromClient) {
			return
		}
		if _, err := dst.Write(msg); err != nil {
			return
		}
	}
}

// fault reports whether msg trips an armed fault (and disarms it).
func (p *Proxy) fault(l *link, msg []byte, fromClient bool) bool {
	commit := fromClient && l.isCommit(msg)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.loseCommit && commit:
		p.loseCommit = false
		return true
	case !fromClient && p.loseAnswer && msg[0] == 'C' && bytes.Equal(bytes.TrimRight(msg[5:], "\x00"), []byte("COMMIT")):
		p.loseAnswer = false
		return true
	}
	return false
}

// isCommit reports whether msg, from the client, runs a COMMIT: a simple
// query whose text is COMMIT, or the Bind of a statement prepared from it.
// It remembers the statements prepared from COMMIT (Parse). Only the
// client's goroutine calls it.
func (l *link) isCommit(msg []byte) bool {
	switch msg[0] {
	case 'Q':
		return isCommitText(bytes.TrimRight(msg[5:], "\x00"))
	case 'P': // Parse: statement name, query text, …
		name, rest, ok := bytes.Cut(msg[5:], []byte{0})
		if !ok {
			return false
		}
		query, _, _ := bytes.Cut(rest, []byte{0})
		if l.commits == nil {
			l.commits = map[string]bool{}
		}
		l.commits[string(name)] = isCommitText(query)
	case 'B': // Bind: portal name, statement name, …
		_, rest, ok := bytes.Cut(msg[5:], []byte{0})
		if !ok {
			return false
		}
		stmt, _, _ := bytes.Cut(rest, []byte{0})
		return l.commits[string(stmt)]
	}
	return false
}

func isCommitText(q []byte) bool {
	q = bytes.TrimSuffix(bytes.TrimSpace(q), []byte(";"))
	return bytes.EqualFold(q, []byte("commit"))
}

// readMessage reads one protocol message: a type byte (unless untyped),
// a 4-byte length that counts itself, and the body.
func readMessage(r io.Reader, untyped bool) ([]byte, error) {
	hdr := 5
	if untyped {
		hdr = 4
	}
	buf := make([]byte, hdr)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(buf[hdr-4:]))
	if n < 4 || n > 1<<30 {
		return nil, errors.New("pgfault: bad message length")
	}
	msg := make([]byte, hdr+n-4)
	copy(msg, buf)
	if _, err := io.ReadFull(r, msg[hdr:]); err != nil {
		return nil, err
	}
	return msg, nil
}
