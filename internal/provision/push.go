package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scimclient"
)

// The push: IDaaS's "One-click Push". It reconciles the accounts in a
// target's scope with the target: creates what is missing, updates what
// differs, deactivates or deletes what left the scope, and leaves alone the
// accounts the target had on its own (unless Prune says otherwise). Each
// account is sent as the target's mapping makes it of the account's event
// document — the same document and the same transformer as the event
// pipeline's rules use, so that a push and the events that follow it agree.
// Links remember which downstream account is which user, with a hash of
// what was sent: a second push sends only what changed, and a push cut
// short resumes where it stopped.

// Directory is what the push reads.
type Directory interface {
	Users(ctx context.Context, p directory.Profile, q directory.Query) (*directory.Page[*directory.User], error)
}

// DocBuilder renders a user as the event document rules see.
type DocBuilder interface {
	UserDocument(ctx context.Context, u *directory.User) (json.RawMessage, error)
}

// Transformer is the target's mapping: event document → SCIM payload.
type Transformer interface {
	Apply(doc []byte) ([]byte, error)
}

// Pusher pushes one target.
type Pusher struct {
	// Name is the target's name; links are kept under "push:" + Name.
	Name   string
	Dir    Directory
	Docs   DocBuilder
	Map    Transformer
	Target *scimclient.Target
	// Client is the target's client, for listing what the target has.
	Client *scimclient.Client
	Links  LinkStore
	// Scope is what is pushed: organizations (with their subtrees) and
	// groups; empty is the whole directory.
	Scope directory.SyncScope
	// OnLeave is what happens to an account that left the scope (or was
	// deleted): "deactivate", "delete" or "keep".
	OnLeave string
	// Prune also retires downstream accounts that match no account in
	// scope and were not created by a push (normally left alone).
	Prune bool
	// Concurrency bounds requests in flight (default 8).
	Concurrency int
	Now         func() time.Time
}

// PushOptions are one run's options.
type PushOptions struct {
	// DryRun plans without writing to the target or the links.
	DryRun bool
	// Full sends every account, even those unchanged since the last push.
	Full bool
	// Progress, when set, is told of each account as it is done.
	Progress func(Item)
}

// Item is what the push did (or, in a dry run, would do) with one account.
type Item struct {
	UserID   string `json:"userId,omitempty"`
	UserName string `json:"userName,omitempty"`
	RemoteID string `json:"remoteId,omitempty"`
	// Action: create, update, unchanged, deactivate, delete, skip, error
	// (in a dry run: what would be done).
	Action string `json:"action"`
	Error  string `json:"error,omitempty"`
}

// Summary counts a run's items.
type Summary struct {
	Target   string         `json:"target"`
	DryRun   bool           `json:"dryRun"`
	InScope  int            `json:"inScope"`
	Actions  map[string]int `json:"actions"`
	Errors   int            `json:"errors"`
	Duration string         `json:"duration"`
	Seconds  float64        `json:"-"`
}

func (s *Summary) add(it Item) {
	s.Actions[it.Action]++
	if it.Action == "error" {
		s.Errors++
	}
}

// Scope of the push's links.
func (p *Pusher) scope() string { return "push:" + p.Name }

// remoteIndex is what the target has, by externalId and by lower-case
// userName.
type remoteIndex struct {
	byExt, byName map[string]string
	complete      bool // the listing succeeded: absence means absent
}

func (p *Pusher) listRemote(ctx context.Context) *remoteIndex {
	ix := &remoteIndex{byExt: map[string]string{}, byName: map[string]string{}}
	err := p.Client.ListUsers(ctx, "", func(pg *scimclient.Page) error {
		for _, u := range pg.Resources {
			id := scimclient.ID(u)
			if ext, _ := u["externalId"].(string); ext != "" {
				ix.byExt[ext] = id
			}
			if un, _ := u["userName"].(string); un != "" {
				ix.byName[strings.ToLower(un)] = id
			}
		}
		return nil
	})
	ix.complete = err == nil
	return ix
}

// Run pushes the accounts in scope.
func (p *Pusher) Run(ctx context.Context, opt PushOptions) (*Summary, error) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	start := now()
	sum := &Summary{Target: p.Name, DryRun: opt.DryRun, Actions: map[string]int{}}
	links, err := p.Links.Links(ctx, p.scope())
	if err != nil {
		return nil, err
	}
	linked := map[string]Link{}
	for _, l := range links {
		if l.Kind == "User" {
			linked[l.LocalID] = l
		}
	}
	// What the target has, for matching accounts not linked yet (and for
	// Prune). When every account in scope is linked, the listing would only
	// cost time and memory.
	remote := &remoteIndex{}
	prof := directory.Profile{TargetOrgID: directory.RootOrgID, Scope: p.Scope}
	if count, err := p.Dir.Users(ctx, prof, directory.Query{Count: true}); err != nil || p.Prune || count.Total > len(linked) {
		remote = p.listRemote(ctx)
	}

	conc := p.Concurrency
	if conc <= 0 {
		conc = 8
	}
	type job struct {
		u   *directory.User
		doc json.RawMessage
	}
	jobs := make(chan job)
	var (
		mu      sync.Mutex
		pending []Link
		seen    = map[string]bool{}
		touched = map[string]bool{} // downstream ids this run acted on
		wg      sync.WaitGroup
		flushMu sync.Mutex
	)
	report := func(it Item) {
		mu.Lock()
		sum.add(it)
		if it.RemoteID != "" && p.Prune {
			touched[it.RemoteID] = true
		}
		mu.Unlock()
		if opt.Progress != nil {
			opt.Progress(it)
		}
	}
	flush := func() error {
		mu.Lock()
		batch := pending
		pending = nil
		mu.Unlock()
		if opt.DryRun || len(batch) == 0 {
			return nil
		}
		flushMu.Lock()
		defer flushMu.Unlock()
		return p.Links.PutLinks(ctx, p.scope(), batch)
	}
	var linkErr error
	var linkErrOnce sync.Once
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				it, link := p.pushUser(ctx, j.u, j.doc, linked[j.u.ID], remote, opt)
				report(it)
				if link != nil {
					mu.Lock()
					pending = append(pending, *link)
					full := len(pending) >= 200
					mu.Unlock()
					if full {
						if err := flush(); err != nil {
							linkErrOnce.Do(func() { linkErr = err })
						}
					}
				}
			}
		}()
	}

	// Walk the accounts in scope.
	q := directory.Query{Limit: 500, Read: directory.ReadOptions{Groups: true}}
	var walkErr error
walk:
	for {
		page, err := p.Dir.Users(ctx, prof, q)
		if err != nil {
			walkErr = err
			break
		}
		for _, u := range page.Items {
			seen[u.ID] = true
			sum.InScope++
			doc, err := p.Docs.UserDocument(ctx, u)
			if err != nil {
				report(Item{UserID: u.ID, UserName: u.UserName, Action: "error", Error: err.Error()})
				continue
			}
			select {
			case jobs <- job{u: u, doc: doc}:
			case <-ctx.Done():
				walkErr = ctx.Err()
				break walk
			}
		}
		if page.Next == nil {
			break
		}
		q.After = page.Next
	}
	close(jobs)
	wg.Wait()
	if err := flush(); err != nil && linkErr == nil {
		linkErr = err
	}
	if walkErr != nil {
		return sum, walkErr
	}
	if linkErr != nil {
		return sum, fmt.Errorf("push %s: remember links: %w", p.Name, linkErr)
	}

	// Accounts pushed before that are no longer in scope.
	var gone []string
	for id, l := range linked {
		if seen[id] || l.Hash == leftHash {
			continue
		}
		it, keep := p.retire(ctx, l, opt)
		report(it)
		if opt.DryRun || it.Action == "error" {
			continue
		}
		if keep {
			pending = append(pending, Link{Kind: "User", LocalID: id, RemoteID: l.RemoteID, Hash: leftHash, Updated: now()})
		} else {
			gone = append(gone, id)
		}
	}
	if err := flush(); err != nil {
		return sum, err
	}
	if !opt.DryRun && len(gone) > 0 {
		if err := p.Links.DeleteLinks(ctx, p.scope(), "User", gone); err != nil {
			return sum, err
		}
	}
	if p.Prune && remote.complete {
		p.prune(ctx, remote, linked, seen, touched, opt, report)
	}
	sum.Seconds = now().Sub(start).Seconds()
	sum.Duration = now().Sub(start).Round(time.Millisecond).String()
	return sum, nil
}

// leftHash marks the link of an account that left the scope and was
// deactivated downstream (kept, so that coming back is an update).
const leftHash = "left"

func hashOf(payload []byte, active bool) string {
	h := sha256.New()
	h.Write(payload)
	if active {
		h.Write([]byte{1})
	} else {
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// pushUser brings one account level. It returns the link to remember, or
// nil.
func (p *Pusher) pushUser(ctx context.Context, u *directory.User, doc json.RawMessage, link Link, remote *remoteIndex, opt PushOptions) (Item, *Link) {
	it := Item{UserID: u.ID, UserName: u.UserName}
	payload, err := p.Map.Apply(doc)
	if err != nil {
		it.Action, it.Error = "error", "mapping: "+err.Error()
		return it, nil
	}
	hash := hashOf(payload, u.Active)
	if link.LocalID != "" && link.Hash == hash && !opt.Full {
		it.Action, it.RemoteID = "unchanged", link.RemoteID
		return it, nil
	}
	hint := scimclient.Hint{RemoteID: link.RemoteID}
	if hint.RemoteID == "" {
		name := ""
		var m map[string]any
		if json.Unmarshal(payload, &m) == nil {
			name, _ = m["userName"].(string)
		}
		if id, ok := remote.byExt[u.ID]; ok {
			hint.RemoteID = id
		} else if id, ok := remote.byName[strings.ToLower(p.Client.UserName(name))]; ok && name != "" {
			hint.RemoteID = id
		} else if remote.complete {
			hint.Absent = true
		}
	}
	eventType := scimclient.EventUserUpdated
	if !u.Active {
		eventType = scimclient.EventUserDisabled
	}
	if opt.DryRun {
		switch {
		case !u.Active && hint.RemoteID == "":
			it.Action = "skip" // nothing downstream to deactivate
		case !u.Active:
			it.Action = p.disableAction()
		case hint.RemoteID == "":
			it.Action = "create"
		default:
			it.Action = "update"
		}
		it.RemoteID = hint.RemoteID
		return it, nil
	}
	dl := &scimclient.Delivery{EventType: eventType, Subject: "users/" + u.ID, Payload: payload, Event: doc}
	applied, res := p.Target.Apply(ctx, dl, hint)
	it.RemoteID = applied.RemoteID
	if res.Outcome != scimclient.Delivered {
		it.Action, it.Error = "error", errText(res)
		return it, nil
	}
	switch applied.Action {
	case "created":
		it.Action = "create"
	case "updated":
		it.Action = "update"
	case "deactivated":
		it.Action = "deactivate"
	case "deleted":
		it.Action = "delete"
	case "none":
		it.Action = "skip"
	default:
		it.Action = "unchanged"
	}
	if it.RemoteID == "" || applied.Action == "deleted" {
		return it, nil
	}
	return it, &Link{Kind: "User", LocalID: u.ID, RemoteID: it.RemoteID, Hash: hash, Updated: time.Now().UTC()}
}

func (p *Pusher) disableAction() string {
	if !p.Client.Profile().Active {
		return "delete"
	}
	return "deactivate"
}

func errText(res scimclient.Result) string {
	if res.Err != nil {
		return res.Err.Error()
	}
	return res.Response
}

// retire acts on an account that left the scope. keep reports whether its
// link stays (deactivated or kept downstream).
func (p *Pusher) retire(ctx context.Context, l Link, opt PushOptions) (Item, bool) {
	it := Item{UserID: l.LocalID, RemoteID: l.RemoteID}
	action := p.OnLeave
	if action == "" {
		action = "deactivate"
	}
	if action == "keep" {
		it.Action = "skip"
		return it, true
	}
	if action == "deactivate" && !p.Client.Profile().Active {
		action = "delete" // the target has no inactive state (RAM)
	}
	if opt.DryRun {
		it.Action = action
		return it, true
	}
	eventType := scimclient.EventUserDisabled
	if action == "delete" {
		eventType = scimclient.EventUserDeleted
	}
	payload, _ := json.Marshal(map[string]any{"externalId": l.LocalID})
	dl := &scimclient.Delivery{EventType: eventType, Subject: "users/" + l.LocalID, Payload: payload}
	applied, res := p.Target.Apply(ctx, dl, scimclient.Hint{RemoteID: l.RemoteID})
	if res.Outcome != scimclient.Delivered {
		it.Action, it.Error = "error", errText(res)
		return it, true
	}
	switch applied.Action {
	case "deleted":
		it.Action = "delete"
		return it, false
	case "none":
		it.Action = "skip"
		return it, false
	}
	it.Action = "deactivate"
	return it, true
}

// prune retires downstream accounts that no account in scope matches and
// no push created.
func (p *Pusher) prune(ctx context.Context, remote *remoteIndex, linked map[string]Link, seen, touched map[string]bool, opt PushOptions, report func(Item)) {
	ours := map[string]bool{}
	for id := range touched {
		ours[id] = true
	}
	for _, l := range linked {
		ours[l.RemoteID] = true
	}
	for ext, id := range remote.byExt {
		if seen[ext] {
			ours[id] = true
		}
	}
	done := map[string]bool{}
	for _, id := range remote.byName {
		if ours[id] || done[id] {
			continue
		}
		done[id] = true
		it := Item{RemoteID: id, Action: p.pruneAction()}
		if !opt.DryRun {
			var err error
			if it.Action == "delete" {
				err = p.Client.DeleteUser(ctx, id)
			} else {
				err = p.Client.DeactivateUser(ctx, id)
			}
			if err != nil {
				it.Action, it.Error = "error", err.Error()
			}
		}
		report(it)
	}
}

func (p *Pusher) pruneAction() string {
	if p.OnLeave == "delete" || !p.Client.Profile().Active {
		return "delete"
	}
	return "deactivate"
}

// ErrNoTarget: no push target of that name.
var ErrNoTarget = errors.New("provision: no such push target")
