package scimclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

// The SCIM event target: it keeps a downstream's account (and group
// memberships) in step with Gatehouse's user lifecycle events. The delivery
// contract mirrors the event engine's (internal/targets) field for field so
// that the engine can adapt it without this package importing it.

// Outcome is what became of a delivery attempt.
type Outcome int

// Outcomes.
const (
	// Delivered: done (including "nothing to do").
	Delivered Outcome = iota
	// Retry: may succeed later; RetryAfter says when, if the server did.
	Retry
	// Permanent: will not succeed as it is (a 4xx, a payload the target
	// cannot use); Err and Response say why.
	Permanent
	// Disable: the target cannot work at all (its credentials are
	// refused); stop delivering to it until someone fixes it.
	Disable
)

func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Retry:
		return "retry"
	case Permanent:
		return "permanent"
	case Disable:
		return "disable"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Delivery is one event for the target. Payload is the rule's transformed
// JSON: the user as the downstream should have it (SCIM attributes, plus an
// optional "groups" list of group display names). Event is the whole
// event document; its detail.id is Gatehouse's user id.
type Delivery struct {
	ID, EventID, EventType, Subject string
	// Rule is the rule that routed the event (recorded with the links).
	Rule           string
	Time           time.Time
	Payload, Event json.RawMessage
	Attempt        int
}

// Result is the outcome of one attempt.
type Result struct {
	Outcome    Outcome
	RetryAfter time.Duration
	Status     int
	Latency    time.Duration
	Response   string
	Err        error
}

// Event types the target acts on; others are acknowledged.
const (
	EventUserCreated  = "User.Created"
	EventUserUpdated  = "User.Updated"
	EventUserEnabled  = "User.Enabled"
	EventUserDisabled = "User.Disabled"
	EventUserDeleted  = "User.Deleted"
)

// TargetOptions configure a Target.
type TargetOptions struct {
	// CreateGroups creates a group named in the payload that does not exist
	// downstream (otherwise such a delivery fails permanently).
	CreateGroups bool
	// ManageGroups removes the user from downstream groups that the
	// payload's "groups" does not list and whose display name matches
	// ManagedGroupPattern (a path.Match pattern compared case-insensitively,
	// such as "*-readers"; empty means every group). It applies only when
	// the payload has a "groups" key: an empty list removes the user from
	// every managed group, no key leaves memberships alone.
	ManageGroups        bool
	ManagedGroupPattern string
	// OnDelete is what User.Deleted does: "delete" (the default) or
	// "deactivate".
	OnDelete string
	// OnDisable is what User.Disabled does: "deactivate" (the default),
	// "delete" (for downstreams without an active state, such as RAM) or
	// "ignore".
	OnDisable string
	// Links, when set, are the target's record of which downstream
	// account is whose (the push's links). A delivery then finds the
	// account linked to its user even without its externalId, never takes
	// over by userName an account linked to someone else, and records the
	// account it creates or adopts (and forgets the one it deletes), so
	// that the push and the deliveries know one truth.
	Links Links
	// Now is the clock for latencies (default time.Now).
	Now func() time.Time
}

// Links is a target's record of which downstream account belongs to which
// Gatehouse account: the push's links of the target (provision.TargetLinks).
type Links interface {
	// RemoteOf returns the downstream id linked to Gatehouse account
	// localID ("" when none is).
	RemoteOf(ctx context.Context, localID string) (string, error)
	// OwnerOf returns the Gatehouse account that downstream account
	// remoteID is linked to ("" when none).
	OwnerOf(ctx context.Context, remoteID string) (string, error)
	// Link records that downstream account remoteID is localID's, as the
	// delivery of an event routed by rule made or found it.
	Link(ctx context.Context, localID, remoteID, rule string) error
	// Unlink forgets localID's downstream account (deleted downstream).
	Unlink(ctx context.Context, localID string) error
}

// Target delivers user lifecycle events to a SCIM downstream.
type Target struct {
	c    *Client
	opts TargetOptions
}

// NewTarget returns a target that delivers through client.
func NewTarget(client *Client, opts TargetOptions) *Target {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Target{c: client, opts: opts}
}

// errPayload is a delivery the target cannot use.
type errPayload struct{ msg string }

func (e *errPayload) Error() string { return "scim target: " + e.msg }

func payloadErr(format string, args ...any) error {
	return &errPayload{msg: fmt.Sprintf(format, args...)}
}

// Hint is what a caller already knows of the downstream account, so that
// a delivery can skip lookups (the push knows the ids of accounts it
// pushed before, and which accounts a listing did not show).
type Hint struct {
	// RemoteID is the account's downstream id, if known.
	RemoteID string
	// Absent: the account is known not to exist downstream.
	Absent bool
	// OwnLinks: the caller keeps the links itself (the push, which
	// records what it sent with them); the delivery reads them but does
	// not write them.
	OwnLinks bool
}

// Applied says what a delivery did downstream, and to which account.
type Applied struct {
	RemoteID string
	// Action is "created", "updated", "unchanged", "deactivated",
	// "deleted" or "none" (nothing found to act on, or nothing to do).
	Action string
	// Doc is the account as the server last showed it, when a create, an
	// update or a lookup did (nil otherwise).
	Doc map[string]any
}

// delivery is the state of one Deliver call.
type delivery struct {
	*Target
	hint    Hint
	applied Applied
	ctx     context.Context
	gid     string         // Gatehouse's user id
	extID   string         // the downstream externalId
	doc     map[string]any // the payload without "groups"
	groups  []string       // the payload's groups
	// hasGroups: the payload had a "groups" key.
	hasGroups bool
	// inactive: the event's account is inactive (detail.active is false).
	inactive bool
	// linked is the downstream id the links give the user ("" when
	// none), once looked up (looked).
	linked string
	looked bool
	rule   string
	status int
	notes  []string
}

func (d *delivery) note(format string, args ...any) {
	d.notes = append(d.notes, fmt.Sprintf(format, args...))
}

// Deliver applies one event to the downstream. It is idempotent:
// delivering an event again leaves the downstream as the first delivery
// did.
func (t *Target) Deliver(ctx context.Context, dl *Delivery) Result {
	_, res := t.Apply(ctx, dl, Hint{})
	return res
}

// Apply is Deliver with what the caller knows of the account, reporting
// what it did to which account.
func (t *Target) Apply(ctx context.Context, dl *Delivery, hint Hint) (Applied, Result) {
	start := t.opts.Now()
	d := &delivery{Target: t, ctx: ctx, hint: hint, applied: Applied{Action: "none"}, rule: dl.Rule}
	err := d.run(dl)
	if err == nil {
		err = d.keepLinks()
	}
	res := Result{Status: d.status}
	switch {
	case err == nil:
		res.Outcome = Delivered
		res.Response = strings.Join(d.notes, "; ")
	default:
		res.Outcome, res.RetryAfter = classify(err)
		res.Err = err
		var e *Error
		if errors.As(err, &e) && e.Status != 0 {
			res.Status = e.Status
		}
		res.Response = err.Error()
		if len(d.notes) > 0 {
			res.Response = strings.Join(d.notes, "; ") + "; then: " + res.Response
		}
	}
	if len(res.Response) > 2000 {
		res.Response = res.Response[:2000] + "…"
	}
	res.Latency = t.opts.Now().Sub(start)
	return d.applied, res
}

// classify maps an error to an outcome.
func classify(err error) (Outcome, time.Duration) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Retry, 0
	}
	var e *Error
	if errors.As(err, &e) {
		switch {
		case e.Retryable:
			return Retry, e.RetryAfter
		case e.Status == http.StatusUnauthorized || e.auth:
			// The credentials are refused even after a fresh token.
			return Disable, 0
		}
		return Permanent, 0
	}
	return Permanent, 0
}

func (d *delivery) run(dl *Delivery) error {
	switch dl.EventType {
	case EventUserCreated, EventUserUpdated, EventUserEnabled, EventUserDisabled, EventUserDeleted:
	default:
		d.note("event type %s: nothing to do", dl.EventType)
		return nil
	}
	if err := d.parse(dl); err != nil {
		return err
	}
	switch dl.EventType {
	case EventUserDisabled:
		return d.disable()
	case EventUserDeleted:
		return d.remove()
	case EventUserEnabled:
		if _, _, ok := lookup(d.doc, "active"); !ok && d.c.profile.Active {
			d.doc["active"] = true
		}
	}
	if d.inactive {
		return d.keepInactive()
	}
	return d.upsert()
}

// parse reads the delivery: Gatehouse's user id from the event, the
// desired user and groups from the payload.
func (d *delivery) parse(dl *Delivery) error {
	var ev struct {
		Subject string         `json:"subject"`
		Detail  map[string]any `json:"detail"`
		Data    map[string]any `json:"data"`
	}
	if len(bytes.TrimSpace(dl.Event)) > 0 {
		if err := json.Unmarshal(dl.Event, &ev); err != nil {
			return payloadErr("the event is not a JSON object")
		}
	}
	detail := ev.Detail
	if detail == nil {
		detail = ev.Data
	}
	d.inactive = detail["active"] == false
	d.gid = str(detail, "id")
	if d.gid == "" {
		for _, s := range []string{ev.Subject, dl.Subject} {
			if id, ok := strings.CutPrefix(s, "users/"); ok && id != "" {
				d.gid = id
				break
			}
		}
	}
	d.doc = map[string]any{}
	if p := bytes.TrimSpace(dl.Payload); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
		doc, err := decodeDoc(p)
		if err != nil || doc == nil {
			return payloadErr("the payload is not a JSON object")
		}
		if _, _, ok := lookup(doc, "specversion"); ok {
			return payloadErr("the payload is a whole event: give the rule a transform that builds the user's SCIM attributes")
		}
		d.doc = doc
	}
	if k, v, ok := lookup(d.doc, "groups"); ok {
		delete(d.doc, k)
		d.hasGroups = true
		list, isList := v.([]any)
		if v != nil && !isList {
			return payloadErr(`"groups" must be a list of group names`)
		}
		for _, el := range list {
			name := ""
			switch x := el.(type) {
			case string:
				name = x
			case map[string]any:
				name = str(x, "display")
			}
			name = strings.TrimSpace(name)
			if name == "" {
				return payloadErr(`"groups" must be a list of group names`)
			}
			if !slices.ContainsFunc(d.groups, func(g string) bool { return strings.EqualFold(g, name) }) {
				d.groups = append(d.groups, name)
			}
		}
	}
	d.extID = str(d.doc, "externalId")
	if d.extID == "" {
		d.extID = d.gid
	}
	if d.extID == "" {
		return payloadErr("neither the event (detail.id, subject) nor the payload (externalId) identifies the user")
	}
	if d.c.profile.allowsUserAttr("externalId") {
		if k, _, ok := lookup(d.doc, "externalId"); ok {
			delete(d.doc, k)
		}
		d.doc["externalId"] = d.extID
	}
	if d.userName() == "" {
		if un := str(detail, "userName"); un != "" && (dl.EventType == EventUserDeleted || dl.EventType == EventUserDisabled) {
			// To find the account by name if it has no externalId.
			d.doc["userName"] = un
		}
	}
	return nil
}

func (d *delivery) userName() string { return str(d.doc, "userName") }

// find looks the downstream user up: by externalId, then by userName. With
// adopt false (disable, delete), an account found by name that carries
// another externalId is not this user's and is left alone.
func (d *delivery) find(adopt bool) (map[string]any, error) {
	if d.hint.Absent {
		d.hint.Absent = false // once: a conflict on create looks again
		return nil, nil
	}
	id := d.hint.RemoteID
	d.hint.RemoteID = ""
	if id == "" && !d.looked {
		// The account the links give the user, found even when its
		// externalId has been cleared downstream (a console edit, a
		// server that does not keep externalId).
		linked, err := d.linkOf()
		if err != nil {
			return nil, err
		}
		id = linked
	}
	if id != "" {
		u, err := d.c.GetUser(d.ctx, id)
		if err == nil {
			ext := str(u, "externalId")
			if ext == d.extID || !d.c.profile.allowsUserAttr("externalId") {
				return u, nil
			}
			if ext == "" {
				switch owner, err := d.ownerOf(id); {
				case err != nil:
					return nil, err
				case owner == d.gid && owner != "":
					return u, nil // linked to the user, its externalId since cleared
				}
			}
		}
		if err != nil && !IsNotFound(err) {
			return nil, err
		}
		// Gone, or now another account: look it up as if unknown.
	}
	u, err := d.c.FindUser(d.ctx, Eq("externalId", d.extID))
	if err == nil || !errors.Is(err, ErrNotFound) {
		return u, err
	}
	name := d.userName()
	if name == "" {
		return nil, nil
	}
	u, err = d.c.FindUser(d.ctx, Eq("userName", d.c.UserName(name)))
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if ext := str(u, "externalId"); ext != "" && ext != d.extID && d.c.profile.allowsUserAttr("externalId") {
		// Someone else's account: never taken over, whatever the names say.
		if !adopt {
			d.note("an account named like the user belongs to externalId %s: left alone", ext)
			return nil, nil
		}
		return nil, &NameTakenError{UserName: str(u, "userName"), RemoteID: ID(u), ExternalID: ext, DisplayName: str(u, "displayName")}
	}
	if str(u, "externalId") != d.extID {
		// No externalId: linked to someone else, it is theirs all the same.
		owner, err := d.ownerOf(ID(u))
		if err != nil {
			return nil, err
		}
		if owner != "" && owner != d.gid {
			if !adopt {
				d.note("an account named like the user is linked to Gatehouse account %s: left alone", owner)
				return nil, nil
			}
			return nil, &NameTakenError{UserName: str(u, "userName"), RemoteID: ID(u), LinkedTo: owner, User: d.gid}
		}
	}
	return u, nil
}

// linkOf is the downstream id the links give the user ("" when none, or
// without links).
func (d *delivery) linkOf() (string, error) {
	if d.looked {
		return d.linked, nil
	}
	d.looked = true
	if d.opts.Links == nil || d.gid == "" {
		return "", nil
	}
	id, err := d.opts.Links.RemoteOf(d.ctx, d.gid)
	if err != nil {
		return "", linkErr(err)
	}
	d.linked = id
	return id, nil
}

// ownerOf is the Gatehouse account downstream account id is linked to
// ("" when none, or without links).
func (d *delivery) ownerOf(id string) (string, error) {
	if d.opts.Links == nil || id == "" {
		return "", nil
	}
	if d.looked && d.linked == id {
		return d.gid, nil
	}
	owner, err := d.opts.Links.OwnerOf(d.ctx, id)
	if err != nil {
		return "", linkErr(err)
	}
	return owner, nil
}

// keepLinks records the account a delivery created or adopted, and
// forgets the one it deleted, unless the caller keeps the links itself.
func (d *delivery) keepLinks() error {
	l := d.opts.Links
	if l == nil || d.hint.OwnLinks || d.gid == "" {
		return nil
	}
	switch d.applied.Action {
	case "created", "updated", "unchanged":
		id := d.applied.RemoteID
		if id == "" {
			return nil
		}
		linked, err := d.linkOf()
		if err != nil || linked == id {
			return err
		}
		if err := l.Link(d.ctx, d.gid, id, d.rule); err != nil {
			return linkErr(err)
		}
	case "deleted":
		if linked, err := d.linkOf(); err != nil || linked == "" {
			return err
		}
		if err := l.Unlink(d.ctx, d.gid); err != nil {
			return linkErr(err)
		}
	}
	return nil
}

// linkErr is a failure to read or write the links: the database, not the
// target; the delivery is retried.
func linkErr(err error) error {
	return &Error{Retryable: true, Err: fmt.Errorf("the target's links: %w", err)}
}

// NameTakenError: the userName a delivery gives belongs downstream to the
// account of someone else (another externalId). The target never takes
// such an account over — two people must not share one downstream
// identity — so the collision is a permanent failure of the delivery that
// came second, naming the account that has the name.
type NameTakenError struct {
	UserName string
	// The account that has the name: its externalId, or (when it has
	// none) the Gatehouse account it is linked to.
	RemoteID, ExternalID, DisplayName string
	LinkedTo                          string
	// User is the Gatehouse id of the account being delivered.
	User string
}

// Error names the accounts by their ids and externalId, not by the other
// person's display name: delivery records keep it.
func (e *NameTakenError) Error() string {
	if e.LinkedTo != "" {
		return fmt.Sprintf("scim target: userName %q is downstream account %s, which is linked to Gatehouse account %s, not to %s: a name collision — the account of another person is never taken over",
			e.UserName, e.RemoteID, e.LinkedTo, e.User)
	}
	return fmt.Sprintf("scim target: userName %q is taken downstream by account %s (externalId %s): a name collision — the account of another person is never taken over",
		e.UserName, e.RemoteID, e.ExternalID)
}

// Owner is the other account: its externalId, or the Gatehouse account it
// is linked to.
func (e *NameTakenError) Owner() string {
	if e.ExternalID != "" {
		return e.ExternalID
	}
	return e.LinkedTo
}

// upsert creates or updates the user, then its groups.
func (d *delivery) upsert() error {
	if d.userName() == "" {
		return payloadErr(`the payload has no "userName"`)
	}
	if err := d.c.profile.checkUserName(d.c.UserName(d.userName())); err != nil {
		return payloadErr("%v", err)
	}
	u, err := d.find(true)
	if err != nil {
		return err
	}
	created := false
	if u == nil {
		u, err = d.c.CreateUser(d.ctx, d.doc)
		switch {
		case err == nil:
			created = true
			d.status = http.StatusCreated
			d.applied = Applied{RemoteID: ID(u), Action: "created", Doc: u}
			d.note("created user %s", ID(u))
		case IsConflict(err):
			// Created meanwhile, or named like an account we could not
			// find: find it again and update it.
			if u, err = d.find(true); err != nil {
				return err
			}
			if u == nil {
				return fmt.Errorf("the create conflicts with an account that cannot be found by externalId or userName: %w", ErrConflict)
			}
		default:
			return err
		}
	}
	if !created {
		if u, err = d.update(u); err != nil {
			return err
		}
	}
	return d.syncGroups(u, created)
}

// update brings the existing account u to the payload and returns it as
// it now is.
func (d *delivery) update(u map[string]any) (map[string]any, error) {
	id := ID(u)
	next, changed, err := d.c.updateUser(d.ctx, id, u, d.doc)
	if err != nil {
		return nil, err
	}
	d.status = http.StatusOK
	if next != nil {
		u = next
	}
	if changed {
		d.applied = Applied{RemoteID: id, Action: "updated", Doc: next}
		d.note("updated user %s", id)
	} else {
		d.applied = Applied{RemoteID: id, Action: "unchanged", Doc: u}
		d.note("user %s up to date", id)
	}
	return u, nil
}

// keepInactive carries out the User.Created or User.Updated of an account
// that is inactive (created disabled, to be enabled on its start date, or
// changed while disabled). It is never created downstream, nor made
// active there, whatever the payload says. An account that is downstream
// is treated as User.Disabled treats it (OnDisable): deleted where the
// target deletes disabled accounts (RAM, which has no inactive state);
// otherwise updated to the payload, inactive ("deactivate") or with its
// active state left alone ("ignore").
func (d *delivery) keepInactive() error {
	u, err := d.find(false)
	if err != nil {
		return err
	}
	if u == nil {
		d.note("the account is inactive: not created downstream")
		return nil
	}
	action := d.opts.OnDisable
	if action == "" {
		action = "deactivate"
	}
	if k, _, ok := lookup(d.doc, "active"); ok {
		delete(d.doc, k)
	}
	switch action {
	case "delete":
		return d.retireFound(u, action)
	case "deactivate":
		if !d.c.profile.Active {
			return payloadErr("profile %s cannot deactivate users: set OnDisable/OnDelete to \"delete\"", d.c.profile.Name)
		}
		d.doc["active"] = false
	case "ignore":
	default:
		return payloadErr("unknown action %q (OnDisable: deactivate, delete, ignore)", action)
	}
	if u, err = d.update(u); err != nil {
		return err
	}
	return d.syncGroups(u, false)
}

// membershipChanged: a group membership changed, so an account that was
// up to date was updated after all.
func (d *delivery) membershipChanged() {
	if d.applied.Action == "unchanged" {
		d.applied.Action = "updated"
	}
}

// membership is a group the user is in downstream.
type membership struct{ id, name string }

// memberships lists the groups user u is in: from its "groups" attribute,
// else by asking for the groups that have it as a member.
func (d *delivery) memberships(u map[string]any, created bool) ([]membership, error) {
	if created {
		return nil, nil
	}
	_, v, ok := lookup(u, "groups")
	if !ok {
		full, err := d.c.GetUser(d.ctx, ID(u))
		if err != nil {
			return nil, err
		}
		_, v, ok = lookup(full, "groups")
	}
	if ok {
		list, _ := v.([]any)
		var out []membership
		for _, el := range list {
			m, _ := el.(map[string]any)
			if id := str(m, "value"); id != "" {
				out = append(out, membership{id: id, name: str(m, "display")})
			}
		}
		return out, nil
	}
	var out []membership
	err := d.c.ListGroups(d.ctx, Eq("members.value", ID(u)), func(p *Page) error {
		for _, g := range p.Resources {
			out = append(out, membership{id: ID(g), name: str(g, "displayName")})
		}
		return nil
	})
	return out, err
}

func (d *delivery) syncGroups(u map[string]any, created bool) error {
	if !d.hasGroups || (len(d.groups) == 0 && !d.opts.ManageGroups) {
		return nil
	}
	if !d.c.profile.Groups {
		if len(d.groups) > 0 {
			d.note("groups not synchronised: profile %s has no groups", d.c.profile.Name)
		}
		return nil
	}
	uid := ID(u)
	have, err := d.memberships(u, created)
	if err != nil {
		return err
	}
	for _, name := range d.groups {
		if slices.ContainsFunc(have, func(m membership) bool { return strings.EqualFold(m.name, name) }) {
			continue
		}
		g, err := d.c.FindGroup(d.ctx, Eq("displayName", name))
		switch {
		case err == nil:
			if slices.ContainsFunc(have, func(m membership) bool { return m.id == ID(g) }) {
				continue
			}
			if err := d.c.AddMember(d.ctx, ID(g), uid); err != nil {
				return err
			}
			d.membershipChanged()
			d.note("added to group %s", name)
		case errors.Is(err, ErrNotFound) && d.opts.CreateGroups:
			doc := map[string]any{"displayName": name, "members": []any{map[string]any{"value": uid}}}
			_, err := d.c.CreateGroup(d.ctx, doc)
			if IsConflict(err) {
				// Created meanwhile: join it.
				if g, err = d.c.FindGroup(d.ctx, Eq("displayName", name)); err == nil {
					err = d.c.AddMember(d.ctx, ID(g), uid)
				}
			}
			if err != nil {
				return err
			}
			d.membershipChanged()
			d.note("added to new group %s", name)
		case errors.Is(err, ErrNotFound):
			return payloadErr("group %q does not exist downstream (CreateGroups is off)", name)
		default:
			return err
		}
	}
	if !d.opts.ManageGroups {
		return nil
	}
	pattern := strings.ToLower(d.opts.ManagedGroupPattern)
	if pattern == "" {
		pattern = "*"
	}
	for _, m := range have {
		name := m.name
		if name == "" {
			g, err := d.c.GetGroup(d.ctx, m.id)
			if IsNotFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			name = str(g, "displayName")
		}
		if slices.ContainsFunc(d.groups, func(g string) bool { return strings.EqualFold(g, name) }) {
			continue
		}
		ok, err := path.Match(pattern, strings.ToLower(name))
		if err != nil {
			return payloadErr("ManagedGroupPattern %q: %v", d.opts.ManagedGroupPattern, err)
		}
		if !ok {
			continue
		}
		if err := d.c.RemoveMember(d.ctx, m.id, uid); err != nil && !IsNotFound(err) {
			return err
		}
		d.membershipChanged()
		d.note("removed from group %s", name)
	}
	return nil
}

// disable carries out User.Disabled.
func (d *delivery) disable() error {
	action := d.opts.OnDisable
	if action == "" {
		action = "deactivate"
	}
	if action == "ignore" {
		d.note("User.Disabled ignored (OnDisable)")
		return nil
	}
	return d.retire(action)
}

// remove carries out User.Deleted.
func (d *delivery) remove() error {
	action := d.opts.OnDelete
	if action == "" {
		action = "delete"
	}
	return d.retire(action)
}

// retire deactivates or deletes the user.
func (d *delivery) retire(action string) error {
	u, err := d.find(false)
	if err != nil {
		return err
	}
	if u == nil {
		d.note("no such user downstream: nothing to %s", action)
		return nil
	}
	return d.retireFound(u, action)
}

// retireFound deactivates or deletes the downstream account u.
func (d *delivery) retireFound(u map[string]any, action string) error {
	id := ID(u)
	switch action {
	case "delete":
		if err := d.c.DeleteUser(d.ctx, id); err != nil {
			return err
		}
		d.status = http.StatusNoContent
		d.applied = Applied{RemoteID: id, Action: "deleted"}
		d.note("deleted user %s", id)
	case "deactivate":
		if !d.c.profile.Active {
			return payloadErr("profile %s cannot deactivate users: set OnDisable/OnDelete to \"delete\"", d.c.profile.Name)
		}
		d.status = http.StatusOK
		d.applied = Applied{RemoteID: id, Action: "unchanged"}
		if _, v, ok := lookup(u, "active"); ok && !truthy(v) && v != nil {
			d.note("user %s already inactive", id)
			return nil
		}
		if err := d.c.DeactivateUser(d.ctx, id); err != nil {
			return err
		}
		d.applied.Action = "deactivated"
		d.note("deactivated user %s", id)
	default:
		return payloadErr("unknown action %q (OnDelete: delete, deactivate; OnDisable: deactivate, delete, ignore)", action)
	}
	return nil
}

// Find looks up the downstream account of a delivery as delivering it
// would — by the hint, the links, externalId, then userName — without
// changing anything: nil when there is none, a *NameTakenError when the
// account named like it is someone else's (adopt false: such an account
// is not the user's, nil).
func (t *Target) Find(ctx context.Context, dl *Delivery, adopt bool) (map[string]any, error) {
	d := &delivery{Target: t, ctx: ctx, applied: Applied{Action: "none"}, rule: dl.Rule}
	if err := d.parse(dl); err != nil {
		return nil, err
	}
	return d.find(adopt)
}

// Compare reports whether current, a downstream account as a listing
// showed it, already is what payload asks for the user with Gatehouse id
// userID: its attributes as an update would compare them, and its groups
// when the payload names groups. known is false when current cannot tell
// (the payload names groups and current does not list the account's
// groups): only a delivery can then find out.
func (t *Target) Compare(payload []byte, userID string, current map[string]any) (same, known bool, err error) {
	d := &delivery{Target: t, ctx: context.Background()}
	if err := d.parse(&Delivery{EventType: EventUserUpdated, Subject: "users/" + userID, Payload: payload}); err != nil {
		return false, false, err
	}
	cur := current
	if t.c.profile.UserAttributes != nil {
		cur = map[string]any{}
		for k, v := range current {
			if t.c.profile.allowsUserAttr(k) {
				cur[k] = v
			}
		}
	}
	if len(diffOps(cur, t.c.prepareUser(d.doc))) > 0 {
		return false, true, nil
	}
	if !d.hasGroups || !t.c.profile.Groups || (len(d.groups) == 0 && !t.opts.ManageGroups) {
		return true, true, nil
	}
	_, v, ok := lookup(current, "groups")
	if !ok {
		return false, false, nil
	}
	list, _ := v.([]any)
	var have []string
	for _, el := range list {
		m, _ := el.(map[string]any)
		name := str(m, "display")
		if name == "" {
			return false, false, nil // a group without its name: cannot tell
		}
		have = append(have, name)
	}
	for _, g := range d.groups {
		if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, g) }) {
			return false, true, nil
		}
	}
	if t.opts.ManageGroups {
		pattern := strings.ToLower(t.opts.ManagedGroupPattern)
		if pattern == "" {
			pattern = "*"
		}
		for _, h := range have {
			if slices.ContainsFunc(d.groups, func(g string) bool { return strings.EqualFold(h, g) }) {
				continue
			}
			if ok, _ := path.Match(pattern, strings.ToLower(h)); ok {
				return false, true, nil
			}
		}
	}
	return true, true, nil
}

// Inactive reports whether a user document says the user is inactive.
func Inactive(doc map[string]any) bool {
	_, v, ok := lookup(doc, "active")
	return ok && v != nil && !truthy(v)
}
