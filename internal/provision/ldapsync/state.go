package ldapsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// state is what a run leaves for the next (the scope's sync state, JSON).
type state struct {
	V int `json:"v"`
	// Fingerprint covers the settings that decide which entries are read
	// and how they are identified: when they change, the next run is full.
	Fingerprint string `json:"fingerprint"`
	// Server identifies the server the watermark belongs to (AD's
	// dsServiceName: update sequence numbers are per domain controller).
	Server string `json:"server,omitempty"`
	// Watermark is the highest change value (uSNChanged, modifyTimestamp)
	// among the accounts listed at the start of the last run.
	Watermark string    `json:"watermark,omitempty"`
	LastFull  time.Time `json:"lastFull"`
	// Retry lists the accounts that failed, read again by the next run.
	Retry []string `json:"retry,omitempty"`
}

// maxRetry bounds state.Retry; beyond it the watermark stays where it was.
const maxRetry = 1000

func (s *Syncer) loadState(ctx context.Context) (state, error) {
	raw, err := s.links.SyncState(ctx, s.cfg.Scope())
	if err != nil {
		return state{}, err
	}
	var st state
	if raw == "" {
		return st, nil
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil || st.V != 1 {
		return state{}, nil // unreadable: start over with a full run
	}
	return st, nil
}

// needsFull reports whether the next run must read every entry.
func (st state) needsFull(fingerprint, server string, now time.Time, every time.Duration) bool {
	if st.Watermark == "" || st.Fingerprint != fingerprint || st.Server != server {
		return true
	}
	if _, err := parseWatermark(st.Watermark); err != nil {
		return true
	}
	return every > 0 && now.Sub(st.LastFull) >= every
}

func (s *Syncer) fingerprint() string {
	c := s.cfg
	host := c.URL
	if u, err := url.Parse(c.URL); err == nil {
		host = u.Host
	}
	var bases []string
	for _, b := range c.BaseDNs {
		n, _ := normDN(b)
		bases = append(bases, n)
	}
	b, _ := json.Marshal([]any{host, bases, c.UserFilter, strings.ToLower(c.IDAttribute), strings.ToLower(c.ChangeAttribute)})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// serverID reads the root DSE's dsServiceName (Active Directory's name of
// the domain controller answering), "" where there is none.
func serverID(ls searcher) (string, error) {
	req := ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"dsServiceName"}, nil)
	res, err := ls.Search(req)
	if err != nil {
		return "", fmt.Errorf("read the root DSE: %w", unwrapLDAP(err))
	}
	if len(res.Entries) == 0 {
		return "", nil
	}
	return res.Entries[0].GetAttributeValue("dsServiceName"), nil
}

// watermark is a position in the directory's history: an update sequence
// number or a time.
type watermark struct {
	usn  int64
	t    time.Time
	kind byte // 0 none, 'u' USN, 't' time
}

// observe moves w to v if v is later. Values that are neither an integer
// nor a GeneralizedTime are ignored.
func (w *watermark) observe(v string) {
	v = strings.TrimSpace(v)
	if v == "" {
		return
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if w.kind == 0 || (w.kind == 'u' && n > w.usn) {
			w.kind, w.usn = 'u', n
		}
		return
	}
	if t, err := ParseGeneralizedTime(v); err == nil {
		if w.kind == 0 || (w.kind == 't' && t.After(w.t)) {
			w.kind, w.t = 't', t
		}
	}
}

func (w watermark) String() string {
	switch w.kind {
	case 'u':
		return "usn:" + strconv.FormatInt(w.usn, 10)
	case 't':
		return "time:" + w.t.UTC().Format(time.RFC3339Nano)
	}
	return ""
}

func parseWatermark(s string) (watermark, error) {
	if v, ok := strings.CutPrefix(s, "usn:"); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return watermark{}, err
		}
		return watermark{kind: 'u', usn: n}, nil
	}
	if v, ok := strings.CutPrefix(s, "time:"); ok {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return watermark{}, err
		}
		return watermark{kind: 't', t: t}, nil
	}
	return watermark{}, fmt.Errorf("bad watermark %q", s)
}

// changedSince is the filter assertion for entries changed at or after w
// (less the overlap, for times): attr>=value. Update sequence numbers are
// exact — the watermark is the highest one listed before the changed entries
// were read — and need no overlap.
func (w watermark) changedSince(attr string, overlap time.Duration) string {
	switch w.kind {
	case 'u':
		return "(" + attr + ">=" + strconv.FormatInt(w.usn, 10) + ")"
	case 't':
		return "(" + attr + ">=" + FormatGeneralizedTime(w.t.Add(-overlap)) + ")"
	}
	return ""
}
