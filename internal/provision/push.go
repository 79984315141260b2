package provision

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/rules"
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
	User(ctx context.Context, p directory.Profile, id string, opt directory.ReadOptions) (*directory.User, error)
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
	// Compared: the target's accounts were listed and every account in
	// scope compared with its own (drift detected and repaired).
	Compared bool `json:"compared"`
	// Warnings are problems that did not stop the push.
	Warnings []string `json:"warnings,omitempty"`
}

func (s *Summary) add(it Item) {
	s.Actions[it.Action]++
	if it.Action == "error" {
		s.Errors++
	}
}

// Scope of the push's links.
func (p *Pusher) scope() string { return "push:" + p.Name }

// remoteAccount is a downstream account as the push's listing showed it.
type remoteAccount struct {
	id, ext string
	// fp fingerprints the account's document: it is compared with the
	// fingerprint of the document the push last saw for it, kept in its
	// link, to tell an account changed downstream from one left as it was
	// without keeping every document in memory.
	fp       uint64
	inactive bool
}

// remoteIndex is what the target has: every account, by externalId, by
// lower-case userName, and by id those without an externalId (the others
// are found by it).
type remoteIndex struct {
	all                  []*remoteAccount
	byExt, byName, noExt map[string]*remoteAccount
	complete             bool // the listing succeeded: absence means absent
}

// errListingCostly stops a listing that would take more requests than
// reading each account in scope.
var errListingCostly = errors.New("the listing would cost more requests than reading each account")

// listRemote lists the target's accounts, unless the listing would take
// more requests than inScope reads (a small scope on a large target).
func (p *Pusher) listRemote(ctx context.Context, inScope int) (*remoteIndex, error) {
	ix := &remoteIndex{byExt: map[string]*remoteAccount{}, byName: map[string]*remoteAccount{}, noExt: map[string]*remoteAccount{}}
	first := true
	err := p.Client.ListUsers(ctx, "", func(pg *scimclient.Page) error {
		if first {
			first = false
			if n := len(pg.Resources); n > 0 && inScope >= 0 && (pg.TotalResults+n-1)/n > inScope {
				return errListingCostly
			}
		}
		for _, u := range pg.Resources {
			id := scimclient.ID(u)
			if id == "" {
				continue
			}
			ra := &remoteAccount{id: id, fp: fingerprint(u), inactive: scimclient.Inactive(u)}
			ra.ext, _ = u["externalId"].(string)
			un, _ := u["userName"].(string)
			ix.all = append(ix.all, ra)
			if ra.ext != "" {
				ix.byExt[ra.ext] = ra
			} else {
				ix.noExt[id] = ra
			}
			if un != "" {
				ix.byName[strings.ToLower(un)] = ra
			}
		}
		return nil
	})
	if err != nil {
		return ix, err
	}
	ix.complete = true
	return ix, nil
}

// fingerprint hashes a downstream account's document, but for its id, meta
// (lastModified changes with every write) and schemas: what someone could
// change downstream.
func fingerprint(doc map[string]any) uint64 {
	if doc == nil {
		return 0
	}
	m := make(map[string]any, len(doc))
	for k, v := range doc {
		switch strings.ToLower(k) {
		case "id", "meta", "schemas":
		default:
			m[k] = v
		}
	}
	b, err := json.Marshal(m) // map keys in order: one text for one document
	if err != nil {
		return 0
	}
	sum := sha256.Sum256(b)
	return binary.BigEndian.Uint64(sum[:8]) | 1 // never 0, which is "unknown"
}

// linkHash is what a link remembers: the hash of the payload sent and the
// fingerprint of the downstream document as last seen (0: unknown).
func linkHash(payload string, fp uint64) string {
	if fp == 0 {
		return payload + "."
	}
	return payload + "." + strconv.FormatUint(fp, 16)
}

func splitLinkHash(h string) (payload string, fp uint64) {
	payload, f, _ := strings.Cut(h, ".")
	fp, _ = strconv.ParseUint(f, 16, 64)
	return payload, fp
}

// plan is what the push does with one account, decided in the order of the
// walk (so that of two accounts that would have one downstream name, the
// one walked first keeps it, every time) and carried out by the workers.
type plan struct {
	u       *directory.User
	doc     json.RawMessage
	payload []byte
	hash    string
	link    Link
	// item is the outcome when no request is needed (unchanged, skip,
	// error); otherwise it holds the planned action.
	item Item
	send bool
	hint scimclient.Hint
	// relink: the account is level but its link must be written (new, or
	// another hash).
	relink *Link
	// verify: whether the account is level can only be told by reading it
	// (its document changed downstream since the push last saw it, or the
	// push never saw it); remoteFP is its fingerprint in the listing.
	verify   bool
	remoteFP uint64
	// unchanged: the payload is what was last sent.
	unchanged bool
}

// Run pushes the accounts in scope.
//
// The target's accounts are listed once at the start (one request per page
// of up to 100): every account in scope is compared with what the target
// has, so that an account missing downstream is created again and one
// changed downstream is put back, even when nothing changed in Gatehouse;
// and a downstream account is matched by externalId (Gatehouse's id) and
// only then by userName, and only when it belongs to nobody else. Accounts
// the listing shows level cost no request.
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
	links = nil
	prof := directory.Profile{TargetOrgID: directory.RootOrgID, Scope: p.Scope}
	inScope := -1
	if count, err := p.Dir.Users(ctx, prof, directory.Query{Count: true}); err == nil {
		inScope = count.Total
	}
	remote, lerr := p.listRemote(ctx, inScope)
	// A small scope on a large target: each account is read instead.
	readEach := errors.Is(lerr, errListingCostly)
	if readEach {
		lerr = nil
	}
	// Downstream accounts without an externalId that are linked: whose they
	// are (the others say it themselves).
	owner := map[string]string{}
	for id, l := range linked {
		if ra := remote.noExt[l.RemoteID]; ra != nil {
			owner[ra.id] = id
		}
	}
	if lerr != nil {
		if ctx.Err() != nil {
			return sum, ctx.Err()
		}
		if errors.Is(lerr, scimclient.ErrWaitTooLong) {
			return sum, stopped(p.Name, lerr)
		}
		sum.Warnings = append(sum.Warnings, "the target's accounts could not be listed, so drift is not detected in this push: "+lerr.Error())
	}
	sum.Compared = remote.complete || readEach

	conc := p.Concurrency
	if conc <= 0 {
		conc = 8
	}
	jobs := make(chan *plan)
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
	// A target that asks to be left alone for longer than the client
	// pauses for stops the push: nothing more is sent to it.
	var (
		stopErr  error
		stopOnce sync.Once
		stopCh   = make(chan struct{})
	)
	stop := func(err error) {
		if errors.Is(err, scimclient.ErrWaitTooLong) {
			stopOnce.Do(func() {
				stopErr = stopped(p.Name, err)
				close(stopCh)
			})
		}
	}
	isStopped := func() bool {
		select {
		case <-stopCh:
			return true
		default:
			return false
		}
	}
	var linkErr error
	var linkErrOnce sync.Once
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
	remember := func(l *Link) {
		if l == nil || opt.DryRun {
			return
		}
		mu.Lock()
		pending = append(pending, *l)
		full := len(pending) >= 200
		mu.Unlock()
		if full {
			if err := flush(); err != nil {
				linkErrOnce.Do(func() { linkErr = err })
			}
		}
	}
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pl := range jobs {
				if isStopped() {
					continue // not sent
				}
				if opt.DryRun {
					it, err := p.check(ctx, pl)
					stop(err)
					report(it)
					continue
				}
				it, link, err := p.carryOut(ctx, pl)
				stop(err)
				report(it)
				remember(link)
			}
		}()
	}

	// Walk the accounts in scope and plan each.
	claims := map[string]string{} // downstream user name → the id of the account that has it in this run
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
			pl := p.plan(ctx, u, doc, linked[u.ID], remote, owner, claims, opt, readEach)
			if !pl.send || (opt.DryRun && !pl.verify) {
				report(pl.item)
				remember(pl.relink)
				continue
			}
			select {
			case jobs <- pl:
			case <-stopCh:
				break walk
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
	if stopErr != nil {
		return sum, stopErr
	}

	// Accounts pushed before that are no longer in scope.
	var gone []string
	for id, l := range linked {
		if seen[id] || l.Hash == leftHash {
			continue
		}
		if strings.HasPrefix(l.Hash, eventLinkPrefix) && l.Hash != EventLinkHash(p.scope()) {
			// Made by the delivery of another rule that names the target,
			// for an account outside the push's scope: that rule's, not
			// the push's, to retire.
			continue
		}
		if remote.complete && remote.noExt[l.RemoteID] == nil && remote.byExt[id] == nil {
			// Gone downstream already (or someone else's now): nothing to
			// retire.
			report(Item{UserID: id, RemoteID: l.RemoteID, Action: "skip"})
			gone = append(gone, id)
			continue
		}
		it, keep, err := p.retire(ctx, l, opt)
		report(it)
		if errors.Is(err, scimclient.ErrWaitTooLong) {
			_ = flush()
			return sum, stopped(p.Name, err)
		}
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
		if err := p.prune(ctx, remote, linked, seen, touched, opt, report); err != nil {
			return sum, stopped(p.Name, err)
		}
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

// plan decides what to do with one account: which downstream account is
// its own, whether its name collides with another's, and whether a request
// is needed at all.
func (p *Pusher) plan(ctx context.Context, u *directory.User, doc json.RawMessage, link Link, remote *remoteIndex,
	owner map[string]string, claims map[string]string, opt PushOptions, readEach bool) *plan {
	pl := &plan{u: u, doc: doc, link: link, item: Item{UserID: u.ID, UserName: u.UserName}}
	fail := func(msg string) *plan {
		pl.item.Action, pl.item.Error, pl.send = "error", msg, false
		return pl
	}
	payload, err := p.Map.Apply(doc)
	if err != nil {
		var me *rules.MissingError
		if errors.As(err, &me) && strings.HasSuffix(me.Path, ".account") {
			return fail(fmt.Sprintf("mapping: %v: the user name %q has no account name (letters of a script that is not transliterated: only Latin and Chinese are); give the account another user name or map another attribute", err, u.UserName))
		}
		return fail("mapping: " + err.Error())
	}
	pl.payload = payload
	pl.hash = hashOf(payload, u.Active)
	var m map[string]any
	_ = json.Unmarshal(payload, &m)
	name, _ := m["userName"].(string)
	key := strings.ToLower(p.Client.UserName(name))

	// The downstream account that is this account's own: the one linked to
	// it, else the one with its id as externalId, else one with its name
	// that nobody else has.
	var ra *remoteAccount
	if remote.complete {
		ra = remote.byExt[u.ID]
		if ra == nil {
			ra = remote.noExt[link.RemoteID] // linked, its externalId since cleared
		}
		// By name only for an active account: a disabled one has nothing
		// downstream but what is its own.
		if r := remote.byName[key]; ra == nil && r != nil && key != "" && u.Active {
			other := r.ext
			if other == "" {
				other = owner[r.id]
			}
			if other != "" && other != u.ID {
				return fail(p.collision(ctx, u, name, r.id, other))
			}
			ra = r // nobody's account of that name: adopted
		}
		if r := remote.byName[key]; ra != nil && r != nil && r != ra && key != "" && u.Active {
			// A rename onto the name of another downstream account.
			other := r.ext
			if other == "" {
				other = owner[r.id]
			}
			return fail(p.collision(ctx, u, name, r.id, other))
		}
	}
	linkPayload, linkFP := splitLinkHash(link.Hash)
	unchanged := link.LocalID != "" && linkPayload == pl.hash && !opt.Full
	pl.unchanged = unchanged
	// Two active accounts of this push with one downstream name: the first
	// keeps it, the second is an error (never a merge). A disabled account
	// claims no name: it is only ever retired downstream.
	if u.Active && key != "" {
		w, taken := claims[key]
		switch {
		case !taken:
			claims[key] = u.ID
		case w != u.ID && unchanged && !remote.complete:
			// Level before, as far as this push can tell: the account
			// that claimed the name will meet the conflict.
			pl.item.Action, pl.item.RemoteID = "unchanged", link.RemoteID
			return pl
		case w != u.ID:
			other := w
			if o, err := p.Dir.User(ctx, directory.Profile{TargetOrgID: directory.RootOrgID}, w, directory.ReadOptions{}); err == nil {
				other = fmt.Sprintf("%q (%s)", o.UserName, o.ID)
			}
			return fail(fmt.Sprintf("%q and %s both become the downstream userName %q: %q is not pushed — two people never share one downstream account; change one user name or the mapping",
				u.UserName, other, p.Client.UserName(name), u.UserName))
		}
	}

	if !remote.complete {
		// Without a listing: each linked account is read and compared
		// (readEach), or the links alone say what is level.
		if readEach && link.RemoteID != "" {
			pl.hint = scimclient.Hint{RemoteID: link.RemoteID}
			pl.item.RemoteID = link.RemoteID
			pl.send, pl.verify = true, true
			pl.item.Action = "update"
			if !u.Active {
				pl.item.Action = p.disableAction()
			}
			return pl
		}
		if unchanged {
			pl.item.Action, pl.item.RemoteID = "unchanged", link.RemoteID
			return pl
		}
		pl.hint = scimclient.Hint{RemoteID: link.RemoteID}
		// A dry run reads or looks up each account it would send: what it
		// could not check is not planned as a create.
		pl.send, pl.verify = true, true
		switch {
		case !u.Active && link.RemoteID == "":
			pl.item.Action = p.disableAction() // if found downstream
		case !u.Active:
			pl.item.Action = p.disableAction()
		case link.RemoteID == "":
			pl.item.Action = "create" // or update, if found downstream
		default:
			pl.item.Action = "update"
		}
		return pl
	}

	newLink := func(ra *remoteAccount) *Link {
		h := linkHash(pl.hash, ra.fp)
		if link.RemoteID == ra.id && link.Hash == h {
			return nil
		}
		return &Link{Kind: "User", LocalID: u.ID, RemoteID: ra.id, Hash: h, Updated: time.Now().UTC()}
	}
	if ra != nil {
		pl.item.RemoteID = ra.id
		pl.remoteFP = ra.fp
	}
	// As the push left it: linked to it, the same payload, and the same
	// document downstream as the push last saw.
	level := ra != nil && unchanged && link.RemoteID == ra.id && linkFP != 0 && linkFP == ra.fp
	switch {
	case !u.Active && ra == nil:
		pl.item.Action = "skip" // nothing downstream to deactivate
		return pl
	case !u.Active:
		if p.Client.Profile().Active && ra.inactive {
			pl.item.Action, pl.relink = "unchanged", newLink(ra)
			return pl
		}
		pl.item.Action = p.disableAction()
	case ra == nil:
		pl.item.Action = "create" // missing downstream (again, if it was pushed before)
		pl.hint = scimclient.Hint{Absent: true}
		pl.send = true
		return pl
	case level:
		pl.item.Action = "unchanged"
		return pl
	default:
		// Changed here, changed downstream, or never seen: read it and
		// compare (an update only if it differs).
		pl.item.Action, pl.verify = "update", true
	}
	pl.hint = scimclient.Hint{RemoteID: ra.id}
	pl.send = true
	return pl
}

// collision is the error of an account whose downstream name belongs to
// the account of another person (Gatehouse id other).
func (p *Pusher) collision(ctx context.Context, u *directory.User, name, remoteID, other string) string {
	who := "another account (externalId " + other + ")"
	if other == "" {
		who = "an account of the target's own"
	} else if o, err := p.Dir.User(ctx, directory.Profile{TargetOrgID: directory.RootOrgID}, other, directory.ReadOptions{}); err == nil {
		who = fmt.Sprintf("%q (%s)", o.UserName, o.ID)
	}
	return fmt.Sprintf("%q becomes the downstream userName %q, which is the downstream account %s of %s: %q is not pushed — two people never share one downstream account; change one user name or the mapping",
		u.UserName, p.Client.UserName(name), remoteID, who, u.UserName)
}

// check is the dry run of a plan that must read the account to tell
// whether it is level: it reads it (or, not knowing its id, looks it up
// as a delivery would) and compares, as the real run would. An account it
// could not read is an error, never a create.
func (p *Pusher) check(ctx context.Context, pl *plan) (Item, error) {
	it := pl.item
	var cur map[string]any
	var err error
	if pl.hint.RemoteID != "" {
		cur, err = p.Client.GetUser(ctx, pl.hint.RemoteID)
	} else {
		dl := &scimclient.Delivery{EventType: scimclient.EventUserUpdated, Subject: "users/" + pl.u.ID, Payload: pl.payload, Event: pl.doc}
		if cur, err = p.Target.Find(ctx, dl, pl.u.Active); err == nil && cur == nil {
			err = scimclient.ErrNotFound
		}
	}
	var nt *scimclient.NameTakenError
	switch {
	case scimclient.IsNotFound(err) && pl.u.Active:
		it.Action, it.RemoteID = "create", "" // not (or no longer) downstream
		return it, nil
	case scimclient.IsNotFound(err):
		it.Action, it.RemoteID = "skip", ""
		return it, nil
	case errors.As(err, &nt) && nt.Owner() != "":
		it.Action, it.Error = "error", p.collision(ctx, pl.u, nt.UserName, nt.RemoteID, nt.Owner())
		return it, err
	case err != nil:
		it.Action, it.Error = "error", err.Error()
		return it, err
	}
	it.RemoteID = scimclient.ID(cur)
	if !pl.u.Active {
		it.Action = p.disableAction()
		if p.Client.Profile().Active && scimclient.Inactive(cur) {
			it.Action = "unchanged"
		}
		return it, nil
	}
	same, known, err := p.Target.Compare(pl.payload, pl.u.ID, cur)
	switch {
	case err != nil:
		it.Action, it.Error = "error", err.Error()
	case same || (!known && pl.unchanged):
		it.Action = "unchanged"
	default:
		it.Action = "update"
	}
	return it, nil
}

// carryOut sends one account's plan. It returns the link to remember, or
// nil.
func (p *Pusher) carryOut(ctx context.Context, pl *plan) (Item, *Link, error) {
	u := pl.u
	it := pl.item
	eventType := scimclient.EventUserUpdated
	if !u.Active {
		eventType = scimclient.EventUserDisabled
	}
	dl := &scimclient.Delivery{EventType: eventType, Subject: "users/" + u.ID, Payload: pl.payload, Event: pl.doc}
	hint := pl.hint
	hint.OwnLinks = true // remembered below, with what was sent
	applied, res := p.Target.Apply(ctx, dl, hint)
	it.RemoteID = applied.RemoteID
	if res.Outcome != scimclient.Delivered {
		it.Action, it.Error = "error", errText(res)
		var nt *scimclient.NameTakenError
		if errors.As(res.Err, &nt) && nt.Owner() != "" {
			it.Error = p.collision(ctx, u, nt.UserName, nt.RemoteID, nt.Owner())
		}
		return it, nil, res.Err
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
		return it, nil, nil
	}
	// The document as the push now knows it: the listing's when nothing
	// was written (the server's own representation of a list), else the
	// server's answer (unknown after a deactivation: read at the next
	// push).
	var fp uint64
	switch {
	case applied.Action == "unchanged" && it.RemoteID == pl.hint.RemoteID && pl.remoteFP != 0:
		fp = pl.remoteFP
	case applied.Doc != nil:
		fp = fingerprint(applied.Doc)
	}
	return it, &Link{Kind: "User", LocalID: u.ID, RemoteID: it.RemoteID, Hash: linkHash(pl.hash, fp), Updated: time.Now().UTC()}, nil
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
func (p *Pusher) retire(ctx context.Context, l Link, opt PushOptions) (Item, bool, error) {
	it := Item{UserID: l.LocalID, RemoteID: l.RemoteID}
	action := p.OnLeave
	if action == "" {
		action = "deactivate"
	}
	if action == "keep" {
		it.Action = "skip"
		return it, true, nil
	}
	if action == "deactivate" && !p.Client.Profile().Active {
		action = "delete" // the target has no inactive state (RAM)
	}
	if opt.DryRun {
		it.Action = action
		return it, true, nil
	}
	eventType := scimclient.EventUserDisabled
	if action == "delete" {
		eventType = scimclient.EventUserDeleted
	}
	payload, _ := json.Marshal(map[string]any{"externalId": l.LocalID})
	dl := &scimclient.Delivery{EventType: eventType, Subject: "users/" + l.LocalID, Payload: payload}
	applied, res := p.Target.Apply(ctx, dl, scimclient.Hint{RemoteID: l.RemoteID, OwnLinks: true})
	if res.Outcome != scimclient.Delivered {
		it.Action, it.Error = "error", errText(res)
		return it, true, res.Err
	}
	switch applied.Action {
	case "deleted":
		it.Action = "delete"
		return it, false, nil
	case "none":
		it.Action = "skip"
		return it, false, nil
	}
	it.Action = "deactivate"
	return it, true, nil
}

// stopped is the error of a push that stopped because the target asked to
// be left alone for longer than its client pauses for.
func stopped(name string, err error) error {
	return fmt.Errorf("push %s stopped: %w; nothing more was sent to the target: push again after that time", name, err)
}

// prune retires downstream accounts that no account in scope matches and
// no push created.
func (p *Pusher) prune(ctx context.Context, remote *remoteIndex, linked map[string]Link, seen, touched map[string]bool, opt PushOptions, report func(Item)) error {
	ours := map[string]bool{}
	for id := range touched {
		ours[id] = true
	}
	for _, l := range linked {
		ours[l.RemoteID] = true
	}
	for ext, ra := range remote.byExt {
		if seen[ext] {
			ours[ra.id] = true
		}
	}
	for _, ra := range remote.all {
		id := ra.id
		if ours[id] {
			continue
		}
		it := Item{RemoteID: id, Action: p.pruneAction()}
		if it.Action == "deactivate" && ra.inactive {
			continue // retired before
		}
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
			if errors.Is(err, scimclient.ErrWaitTooLong) {
				report(it)
				return err
			}
		}
		report(it)
	}
	return nil
}

func (p *Pusher) pruneAction() string {
	if p.OnLeave == "delete" || !p.Client.Profile().Active {
		return "delete"
	}
	return "deactivate"
}

// ErrNoTarget: no push target of that name.
var ErrNoTarget = errors.New("provision: no such push target")
