package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/rules"
	"github.com/gatehouse-id/gatehouse/internal/targets"
)

// A person's journey is everything that happened to one account across the
// pipeline, in order: where it came from, each change (the audit log), each
// event about it (its own and its group memberships), and for each event
// the deliveries the rules made, why the rule matched, every attempt, the
// ids the targets gave and the emails sent. It is read from what is kept:
// the audit log (until audit retention prunes it) and the event tables
// (until events.retention prunes finished deliveries and their events).

// JourneyStore is what a journey reads from the store besides the
// directory and the audit log.
type JourneyStore interface {
	// UserIDByUserName returns the id of the user with userName, compared
	// as the directory compares it (case-insensitively).
	UserIDByUserName(ctx context.Context, userName string) (string, error)
	// UserExternalIDs returns the user's externalIds by provisioning
	// domain.
	UserExternalIDs(ctx context.Context, userID string) (map[string]string, error)
	// UserEvents returns up to limit events about the user, newest first,
	// before beforeSeq when it is positive: those whose subject is
	// users/<id>, and the membership events (Group.MemberAdded,
	// Group.MemberRemoved) whose data names the user as member.
	UserEvents(ctx context.Context, userID string, beforeSeq int64, limit int) ([]*directory.EventRecord, error)
	// EventDocuments returns the documents still kept of the events seqs,
	// in seq order.
	EventDocuments(ctx context.Context, seqs []int64) ([]*events.EventDoc, error)
	// EventDeliveries returns the deliveries of the events seqs, by event
	// and creation, and their attempts, by delivery and number.
	EventDeliveries(ctx context.Context, seqs []int64) ([]*events.Delivery, []*events.Attempt, error)
	// RuleStarts returns, for each rule that has come into force, the seq
	// of the last event written before it did.
	RuleStarts(ctx context.Context) (map[string]int64, error)
}

// Bounds of one journey: the most recent records of each kind, and how
// many deletions a userName is looked for among.
const (
	journeyMaxEvents  = 1000
	journeyMaxAudit   = 1000
	journeyMaxDeleted = 10000
	journeyExcerpt    = 300
)

// Journey is one person's journey across the pipeline.
type Journey struct {
	User JourneyUser `json:"user"`
	// Origin is where the account came from (nil: no record of it is
	// left).
	Origin *JourneyOrigin `json:"origin"`
	// Steps are the audit records and events, oldest first.
	Steps []JourneyStep `json:"steps"`
	// Truncated: the account has more than a journey shows; the steps are
	// the most recent ones (the origin is still the first record).
	Truncated bool `json:"truncated"`
}

// JourneyUser is the account as it is now.
type JourneyUser struct {
	ID          string `json:"id"`
	UserName    string `json:"userName"`
	DisplayName string `json:"displayName,omitempty"`
	// ExternalIDs are the ids the applications and connectors that set one
	// know the account by, one per provisioning domain (a deleted account:
	// the one its last snapshot holds).
	ExternalIDs []JourneyExternalID `json:"externalIds,omitempty"`
	OrgID       string              `json:"organizationId,omitempty"`
	// State is active, inactive or deleted.
	State string `json:"state"`
}

// JourneyExternalID is an account's externalId in one provisioning domain.
type JourneyExternalID struct {
	// Domain is an application's id, a connector's scope ("ldap:corp"), or
	// "unattributed" (a value from before externalIds were per domain whose
	// origin could not be told).
	Domain string `json:"domain"`
	// Application is the name of the application whose id Domain is.
	Application string `json:"application,omitempty"`
	Value       string `json:"value"`
}

// JourneyOrigin is the record of the account's creation.
type JourneyOrigin struct {
	Time   time.Time       `json:"time"`
	Action string          `json:"action"`
	Actor  directory.Actor `json:"actor"`
	// Via says who in words: "application okta (scim-client)", "connector
	// ldap:corp", "the command line", "Gatehouse".
	Via string `json:"via"`
	// From is the record it was read from: "audit" or "event".
	From string `json:"from"`
	// Pruned: the record of the creation is gone (retention); this is the
	// earliest record left.
	Pruned bool `json:"pruned,omitempty"`
}

// JourneyStep is one audit record or one event.
type JourneyStep struct {
	Time    time.Time     `json:"time"`
	Kind    string        `json:"kind"` // audit or event
	Summary string        `json:"summary"`
	Audit   *JourneyAudit `json:"audit,omitempty"`
	Event   *JourneyEvent `json:"event,omitempty"`
}

// JourneyAudit is a change to the account, from the audit log.
type JourneyAudit struct {
	Seq    int64           `json:"seq"`
	Action string          `json:"action"`
	Actor  directory.Actor `json:"actor"`
	// Changed names the attributes the change changed (never values).
	Changed []string `json:"changed,omitempty"`
}

// JourneyEvent is an event about the account and what the pipeline did
// with it.
type JourneyEvent struct {
	Seq     int64  `json:"seq"`
	ID      string `json:"id"`
	Type    string `json:"type"`
	Subject string `json:"subject"`
	// Actor made the change; for a received event, the application
	// whose credential posted it.
	Actor directory.Actor `json:"actor"`
	// Received: the event was received on POST /events, not made by
	// Gatehouse; Source is the source it claims.
	Received bool   `json:"received,omitempty"`
	Source   string `json:"source,omitempty"`
	// Group is the group of a membership event.
	Group   *JourneyGroup `json:"group,omitempty"`
	Changed []string      `json:"changed,omitempty"`
	// Document is the state of the document rules saw: kept, pruned, or
	// pending (the event is not dispatched yet).
	Document   string            `json:"document"`
	Deliveries []JourneyDelivery `json:"deliveries"`
	// Earlier, for an event without deliveries, names the rules (in force
	// now) that came into force after it was written, and so did not route
	// it: those whose pattern matches its document, or all of them when the
	// document was pruned (EarlierPruned).
	Earlier       []string `json:"writtenBeforeRules,omitempty"`
	EarlierPruned bool     `json:"-"`
}

// JourneyGroup names a membership event's group.
type JourneyGroup struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName,omitempty"`
}

// JourneyDelivery is one delivery of an event.
type JourneyDelivery struct {
	ID   string     `json:"id"`
	Rule string     `json:"rule"`
	Why  JourneyWhy `json:"why"`
	// Target and its kind (webhook, resend, smtp, scim, eventbridge;
	// absent when the target is no longer configured).
	Target     string           `json:"target"`
	TargetKind string           `json:"targetKind,omitempty"`
	State      string           `json:"state"`
	NextAt     *time.Time       `json:"nextAt,omitempty"`
	Attempts   []JourneyAttempt `json:"attempts"`
	// DownstreamID is the id the target gave: the downstream SCIM user's,
	// Resend's email's, EventBridge's event's (the last attempt's that
	// named one).
	DownstreamID string        `json:"downstreamId,omitempty"`
	Email        *JourneyEmail `json:"email,omitempty"`
}

// JourneyWhy says why the delivery's rule matched the event.
type JourneyWhy struct {
	// Origin is where the rule is defined now: file, api or push (the
	// implicit rule of a push); absent when it no longer exists.
	Origin string `json:"origin,omitempty"`
	// Matches is whether the rule as it is now matches the event's stored
	// document (absent when that cannot be told).
	Matches *bool `json:"matches,omitempty"`
	// Reason is why, in words (rules.Explain), or why it cannot be told.
	Reason string `json:"reason"`
}

// JourneyAttempt is one attempt of a delivery.
type JourneyAttempt struct {
	N         int       `json:"n"`
	At        time.Time `json:"at"`
	Outcome   string    `json:"outcome"`
	Status    int       `json:"status,omitempty"`
	LatencyMs float64   `json:"latencyMs"`
	// Response is an excerpt of the answer; Error why the attempt failed.
	Response     string `json:"response,omitempty"`
	Error        string `json:"error,omitempty"`
	DownstreamID string `json:"downstreamId,omitempty"`
}

// JourneyEmail is what an email delivery sent.
type JourneyEmail struct {
	To       []string `json:"to"`
	Template string   `json:"template,omitempty"`
	// Outcome is sent, failed, retrying or queued.
	Outcome string `json:"outcome"`
}

// Journey returns the journey of the account user: an id or a userName
// (case-insensitively), of a current account or, by its id or the
// userName it had, of a deleted one.
func (o *Ops) Journey(ctx context.Context, user string) (*Journey, error) {
	ev, err := o.events()
	if err != nil {
		return nil, err
	}
	js, ok := ev.Store.(JourneyStore)
	if !ok {
		return nil, directory.Errorf(directory.ErrInvalid, "", "journeys are not available on this database")
	}
	user = strings.TrimSpace(user)
	if user == "" {
		return nil, invalid("user", "give a user's id or userName")
	}
	acct, err := o.journeyUser(ctx, js, user)
	if err != nil {
		return nil, err
	}
	audit, auditCut, oldest, err := o.userAudit(ctx, acct.ID)
	if err != nil {
		return nil, err
	}
	if acct.State == "deleted" {
		fillDeleted(&acct, audit)
	} else if acct.ExternalIDs, err = o.externalIDs(ctx, js, acct.ID); err != nil {
		return nil, err
	}
	recs, err := js.UserEvents(ctx, acct.ID, 0, journeyMaxEvents)
	if err != nil {
		return nil, err
	}
	eventsCut := len(recs) == journeyMaxEvents
	slices.Reverse(recs)

	j := &Journey{User: acct, Steps: []JourneyStep{}, Truncated: auditCut || eventsCut}
	j.Origin = o.journeyOrigin(ctx, oldest, recs)

	steps, err := o.eventSteps(ctx, ev, js, recs)
	if err != nil {
		return nil, err
	}
	for _, e := range audit {
		if e.ResourceType != "User" {
			continue
		}
		a := &JourneyAudit{Seq: e.Seq, Action: e.Action, Actor: e.Actor, Changed: snapshotChanges(e.Before, e.After)}
		steps = append(steps, JourneyStep{Time: e.Time, Kind: "audit", Summary: auditSummary(a), Audit: a})
	}
	// Audit records and events of one change share its time: the record
	// first, as it was written.
	sort.SliceStable(steps, func(a, b int) bool {
		x, y := steps[a], steps[b]
		if !x.Time.Equal(y.Time) {
			return x.Time.Before(y.Time)
		}
		if x.Kind != y.Kind {
			return x.Kind == "audit"
		}
		return stepSeq(x) < stepSeq(y)
	})
	// Each kind is cut at its most recent records: show the span both
	// cover.
	var cutoff time.Time
	if auditCut && len(audit) > 0 {
		cutoff = audit[len(audit)-1].Time
	}
	if eventsCut && len(recs) > 0 && recs[0].Time.After(cutoff) {
		cutoff = recs[0].Time
	}
	for _, s := range steps {
		if !s.Time.Before(cutoff) {
			j.Steps = append(j.Steps, s)
		}
	}
	return j, nil
}

func stepSeq(s JourneyStep) int64 {
	if s.Audit != nil {
		return s.Audit.Seq
	}
	return s.Event.Seq
}

// journeyUser finds the account: a current one by id, then by userName;
// a deleted one by its id, then by the userName it had when deleted.
func (o *Ops) journeyUser(ctx context.Context, js JourneyStore, ref string) (JourneyUser, error) {
	u, err := o.Dir.User(ctx, wholeDirectory, ref, directory.ReadOptions{})
	if errors.Is(err, directory.ErrNotFound) {
		var id string
		if id, err = js.UserIDByUserName(ctx, ref); err == nil {
			u, err = o.Dir.User(ctx, wholeDirectory, id, directory.ReadOptions{})
		}
	}
	if err == nil {
		state := "active"
		if !u.Active {
			state = "inactive"
		}
		return JourneyUser{ID: u.ID, UserName: u.UserName, DisplayName: u.DisplayName, OrgID: u.OrgID, State: state}, nil
	}
	if !errors.Is(err, directory.ErrNotFound) {
		return JourneyUser{}, err
	}
	// Deleted: its records are kept under its id.
	recs, err := o.Dir.Audit(ctx, directory.AuditQuery{ResourceID: ref, Limit: 10})
	if err != nil {
		return JourneyUser{}, err
	}
	for _, e := range recs {
		if e.ResourceType == "User" {
			return JourneyUser{ID: ref, State: "deleted"}, nil
		}
	}
	// Or by the userName it had, among the most recent deletions.
	want := strings.ToLower(ref)
	var before int64
	for seen := 0; seen < journeyMaxDeleted; {
		page, err := o.Dir.Audit(ctx, directory.AuditQuery{Action: "user.delete", BeforeSeq: before, Limit: 1000})
		if err != nil {
			return JourneyUser{}, err
		}
		for _, e := range page {
			var snap directory.UserSnapshot
			if e.ResourceType == "User" && json.Unmarshal(e.Before, &snap) == nil && strings.ToLower(snap.UserName) == want {
				return JourneyUser{ID: e.ResourceID, State: "deleted"}, nil
			}
		}
		if len(page) < 1000 {
			break
		}
		seen += len(page)
		before = page[len(page)-1].Seq
	}
	return JourneyUser{}, directory.Errorf(directory.ErrNotFound, "user", "no user %q: no account has that id or userName, and no deleted one had", ref)
}

// fillDeleted names a deleted account from its most recent snapshot, whose
// externalId is the one the record's actor knew it by.
func fillDeleted(u *JourneyUser, audit []*directory.AuditEntry) {
	for _, e := range audit { // newest first
		for _, raw := range []json.RawMessage{e.After, e.Before} {
			var snap directory.UserSnapshot
			if e.ResourceType == "User" && json.Unmarshal(raw, &snap) == nil && snap.UserName != "" {
				u.UserName, u.DisplayName, u.OrgID = snap.UserName, snap.DisplayName, snap.OrgID
				if snap.ExternalID != "" {
					var app string
					if e.Actor.Kind == "app" {
						app = e.Actor.AppName
					}
					u.ExternalIDs = []JourneyExternalID{{Domain: e.Actor.Domain(), Application: app, Value: snap.ExternalID}}
				}
				return
			}
		}
	}
}

// externalIDs lists a current account's externalIds, naming the
// applications whose domains they are in.
func (o *Ops) externalIDs(ctx context.Context, js JourneyStore, id string) ([]JourneyExternalID, error) {
	byDomain, err := js.UserExternalIDs(ctx, id)
	if err != nil || len(byDomain) == 0 {
		return nil, err
	}
	names := map[string]string{}
	if o.Auth != nil {
		apps, err := o.Auth.Apps(ctx)
		if err != nil {
			return nil, err
		}
		for _, a := range apps {
			names[a.ID] = a.Name
		}
	}
	out := make([]JourneyExternalID, 0, len(byDomain))
	for d, v := range byDomain {
		out = append(out, JourneyExternalID{Domain: d, Application: names[d], Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Domain < out[j].Domain })
	return out, nil
}

// userAudit returns the account's most recent audit records (newest
// first), whether there are more, and its oldest record.
func (o *Ops) userAudit(ctx context.Context, id string) ([]*directory.AuditEntry, bool, *directory.AuditEntry, error) {
	recs, err := o.Dir.Audit(ctx, directory.AuditQuery{ResourceID: id, Limit: journeyMaxAudit})
	if err != nil {
		return nil, false, nil, err
	}
	oldest := oldestUserRecord(recs)
	cut := len(recs) == journeyMaxAudit
	for page := recs; len(page) == journeyMaxAudit; {
		// The origin is the first record: walk back to it (by index).
		if page, err = o.Dir.Audit(ctx, directory.AuditQuery{ResourceID: id, BeforeSeq: page[len(page)-1].Seq, Limit: journeyMaxAudit}); err != nil {
			return nil, false, nil, err
		}
		if e := oldestUserRecord(page); e != nil {
			oldest = e
		}
	}
	return recs, cut, oldest, nil
}

func oldestUserRecord(newestFirst []*directory.AuditEntry) *directory.AuditEntry {
	for i := len(newestFirst) - 1; i >= 0; i-- {
		if newestFirst[i].ResourceType == "User" {
			return newestFirst[i]
		}
	}
	return nil
}

// journeyOrigin is the record of the creation: its audit record, else the
// User.Created event, else (pruned) the earliest record left. Received
// events are never records of the account: whatever they say, they are
// what an application posted.
func (o *Ops) journeyOrigin(ctx context.Context, oldest *directory.AuditEntry, recs []*directory.EventRecord) *JourneyOrigin {
	var created, first *directory.EventRecord
	for _, r := range recs {
		if r.Source != "" {
			continue
		}
		if first == nil {
			first = r
		}
		if r.Type == directory.UserCreated && strings.HasPrefix(r.Subject, "users/") {
			created = r
			break
		}
	}
	var og *JourneyOrigin
	switch {
	case oldest != nil && oldest.Action == "user.create":
		og = &JourneyOrigin{Time: oldest.Time, Action: oldest.Action, Actor: oldest.Actor, From: "audit"}
	case created != nil:
		og = &JourneyOrigin{Time: created.Time, Action: created.Type, Actor: created.Actor, From: "event"}
	case oldest != nil:
		og = &JourneyOrigin{Time: oldest.Time, Action: oldest.Action, Actor: oldest.Actor, From: "audit", Pruned: true}
	case first != nil:
		og = &JourneyOrigin{Time: first.Time, Action: first.Type, Actor: first.Actor, From: "event", Pruned: true}
	default:
		return nil
	}
	og.Via = actorText(og.Actor)
	if og.Actor.Kind == "app" && og.Actor.AppID != "" && o.Auth != nil {
		if app, err := o.Auth.FindApp(ctx, og.Actor.AppID); err == nil {
			og.Via += " (" + string(app.Kind) + ")"
		} else if errors.Is(err, directory.ErrNotFound) {
			og.Via += " (since deleted)"
		}
	}
	return og
}

// actorText says who acted, in words.
func actorText(a directory.Actor) string {
	name := cmpOr(a.AppName, a.AppID)
	switch a.Kind {
	case "app":
		return "application " + cmpOr(name, "?")
	case "connector":
		return "connector " + cmpOr(name, "?")
	case "cli":
		if name != "" {
			return "the command line (" + name + ")"
		}
		return "the command line"
	case "system":
		if name != "" {
			return "Gatehouse (" + name + ")"
		}
		return "Gatehouse"
	case "user":
		if name != "" {
			return "the person, signed in to " + name
		}
		return "the person (sign-in)"
	}
	return cmpOr(a.Kind, "unknown")
}

func cmpOr(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func auditSummary(a *JourneyAudit) string {
	s := a.Action + " by " + actorText(a.Actor)
	if len(a.Changed) > 0 {
		s += ": " + strings.Join(a.Changed, ", ")
	}
	return s
}

// snapshotChanges names the attributes that differ between two user
// snapshots: top-level names, attributes by name and extension attributes
// as "<URN>:<name>" (as the events' "changed"); "password" when one was
// set or removed. Names only, never values.
func snapshotChanges(before, after json.RawMessage) []string {
	if before == nil || after == nil {
		return nil
	}
	var b, a map[string]json.RawMessage
	if json.Unmarshal(before, &b) != nil || json.Unmarshal(after, &a) != nil {
		return nil
	}
	var out []string
	for k := range union(a, b) {
		switch k {
		case "id", "version", "created", "lastModified", "droppedValues", "retypedValues":
			continue // bookkeeping, and notes of what a change's values lost
		case "attributes":
			var ba, aa map[string]json.RawMessage
			_ = json.Unmarshal(b[k], &ba)
			_ = json.Unmarshal(a[k], &aa)
			for name := range union(aa, ba) {
				if strings.HasPrefix(name, "urn:") {
					var bx, ax map[string]json.RawMessage
					if json.Unmarshal(orNull(ba[name]), &bx) == nil && json.Unmarshal(orNull(aa[name]), &ax) == nil {
						for sub := range union(ax, bx) {
							if !sameJSON(bx[sub], ax[sub]) {
								out = append(out, name+":"+sub)
							}
						}
						continue
					}
				}
				if !sameJSON(ba[name], aa[name]) {
					out = append(out, name)
				}
			}
		default:
			if !sameJSON(b[k], a[k]) {
				name := k
				if k == "passwordSet" {
					name = "password"
				}
				out = append(out, name)
			}
		}
	}
	sort.Strings(out)
	return out
}

func union(a, b map[string]json.RawMessage) map[string]bool {
	out := make(map[string]bool, len(a)+len(b))
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func orNull(r json.RawMessage) json.RawMessage {
	if r == nil {
		return json.RawMessage("null")
	}
	return r
}

// sameJSON compares two JSON values (absent is null), whatever their
// spacing and key order.
func sameJSON(a, b json.RawMessage) bool {
	norm := func(r json.RawMessage) string {
		var v any
		if r == nil || json.Unmarshal(r, &v) != nil {
			return "null"
		}
		out, _ := json.Marshal(v) // decoded JSON: cannot fail
		return string(out)
	}
	return norm(a) == norm(b)
}

// journeyRun holds what explaining deliveries needs.
type journeyRun struct {
	rules    map[string]RuleView
	patterns map[string]*rules.Pattern
	bad      map[string]string // rule → why its pattern cannot be used
	cfg      *events.Config
	why      map[string]JourneyWhy
}

// eventSteps turns events into steps with their deliveries.
func (o *Ops) eventSteps(ctx context.Context, ev *EventOps, js JourneyStore, recs []*directory.EventRecord) ([]JourneyStep, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	seqs := make([]int64, len(recs))
	for i, r := range recs {
		seqs[i] = r.Seq
	}
	cursor, err := ev.Store.DispatchCursor(ctx)
	if err != nil {
		return nil, err
	}
	docList, err := js.EventDocuments(ctx, seqs)
	if err != nil {
		return nil, err
	}
	docs := make(map[int64]json.RawMessage, len(docList))
	for _, d := range docList {
		docs[d.Seq] = d.Doc
	}
	ds, att, err := js.EventDeliveries(ctx, seqs)
	if err != nil {
		return nil, err
	}
	bySeq := map[int64][]*events.Delivery{}
	for _, d := range ds {
		bySeq[d.EventSeq] = append(bySeq[d.EventSeq], d)
	}
	byDelivery := map[string][]*events.Attempt{}
	for _, a := range att {
		byDelivery[a.DeliveryID] = append(byDelivery[a.DeliveryID], a)
	}
	run := &journeyRun{rules: map[string]RuleView{}, patterns: map[string]*rules.Pattern{}, bad: map[string]string{}, why: map[string]JourneyWhy{}}
	if rs, err := o.ListRules(); err == nil {
		for _, r := range rs {
			run.rules[r.Name] = r
		}
	}
	run.cfg = ev.config()
	starts, err := js.RuleStarts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]JourneyStep, 0, len(recs))
	for _, r := range recs {
		e := &JourneyEvent{Seq: r.Seq, ID: r.ID, Type: r.Type, Subject: r.Subject, Actor: r.Actor, Deliveries: []JourneyDelivery{}}
		if r.Source != "" {
			e.Received, e.Source = true, r.Source
		} else {
			var data directory.EventData
			if json.Unmarshal(r.Data, &data) == nil {
				e.Changed = data.Changed
				if data.Member != "" {
					e.Group = groupOf(r, data)
				}
			}
		}
		doc, kept := docs[r.Seq]
		switch {
		case kept:
			e.Document = "kept"
		case r.Seq > cursor:
			e.Document = "pending"
		default:
			e.Document = "pruned"
		}
		for _, d := range bySeq[r.Seq] {
			e.Deliveries = append(e.Deliveries, run.delivery(d, byDelivery[d.ID], doc))
		}
		if len(e.Deliveries) == 0 && e.Document != "pending" {
			e.Earlier, e.EarlierPruned = run.earlierThan(r.Seq, starts, doc)
		}
		out = append(out, JourneyStep{Time: r.Time, Kind: "event", Summary: eventSummary(e), Event: e})
	}
	return out, nil
}

// groupOf names a membership event's group, from its snapshot.
func groupOf(r *directory.EventRecord, data directory.EventData) *JourneyGroup {
	g := &JourneyGroup{ID: r.ResourceID}
	for _, raw := range []json.RawMessage{data.After, data.Before} {
		var snap directory.GroupSnapshot
		if raw != nil && json.Unmarshal(raw, &snap) == nil && snap.DisplayName != "" {
			g.DisplayName = snap.DisplayName
			break
		}
	}
	return g
}

func eventSummary(e *JourneyEvent) string {
	s := e.Type
	switch {
	case e.Group != nil && e.Type == directory.GroupMemberRemoved:
		s += " from group " + cmpOr(e.Group.DisplayName, e.Group.ID)
	case e.Group != nil:
		s += " to group " + cmpOr(e.Group.DisplayName, e.Group.ID)
	case e.Received:
		s += " received from " + actorText(e.Actor) + " (source " + e.Source + ")"
	case len(e.Changed) > 0:
		s += ": " + strings.Join(e.Changed, ", ")
	}
	switch n := len(e.Deliveries); {
	case e.Document == "pending":
		s += " (not dispatched yet)"
	case n == 0 && len(e.Earlier) > 0 && !e.EarlierPruned:
		s += " (written before " + rulesText(e.Earlier) + " came into force)"
	case n == 0 && len(e.Earlier) > 0:
		s += " (no rule in force then matched; " + rulesText(e.Earlier) + " came into force after it)"
	case n == 0:
		s += " (no rule matched)"
	case n == 1:
		s += " (1 delivery)"
	default:
		s += " (" + strconv.Itoa(n) + " deliveries)"
	}
	return s
}

// rulesText names rules in a sentence: rule a, rules a, b.
func rulesText(names []string) string {
	if len(names) == 1 {
		return "rule " + names[0]
	}
	return "rules " + strings.Join(names, ", ")
}

// earlierThan returns the rules in force now that came into force after
// the event seq was written (their start is at or after it), and so did not
// route it: with its document, those whose pattern matches it; without
// (pruned), all of them, and true.
func (x *journeyRun) earlierThan(seq int64, starts map[string]int64, doc json.RawMessage) ([]string, bool) {
	var later []string
	for name, r := range x.rules {
		start, ok := starts[name]
		if !ok || start < seq || r.Disabled {
			continue
		}
		if doc != nil {
			if p := x.pattern(name); p == nil {
				continue
			} else if match, _ := events.ExplainRule(p, doc); !match {
				continue
			}
		}
		later = append(later, name)
	}
	sort.Strings(later)
	return later, doc == nil && len(later) > 0
}

// pattern returns rule's parsed pattern (nil when it cannot be used).
func (x *journeyRun) pattern(rule string) *rules.Pattern {
	p, ok := x.patterns[rule]
	if !ok && x.bad[rule] == "" {
		src, err := json.Marshal(x.rules[rule].Pattern)
		if err == nil {
			p, err = rules.ParsePattern(src)
		}
		if err != nil {
			x.bad[rule] = err.Error()
		} else {
			x.patterns[rule] = p
		}
	}
	return p
}

// delivery describes one delivery.
func (x *journeyRun) delivery(d *events.Delivery, att []*events.Attempt, doc json.RawMessage) JourneyDelivery {
	out := JourneyDelivery{ID: d.ID, Rule: d.Rule, Why: x.explain(d.Rule, d.EventSeq, doc), Target: d.Target, State: d.State,
		Attempts: []JourneyAttempt{}}
	if x.cfg != nil {
		if t := x.cfg.Targets[d.Target]; t != nil && t.Sender != nil {
			out.TargetKind = t.Sender.Kind()
		}
	}
	if d.State == events.StatePending && !d.NextAt.IsZero() {
		next := d.NextAt
		out.NextAt = &next
	}
	for _, a := range att {
		ja := JourneyAttempt{N: a.N, At: a.At, Outcome: a.Outcome, Status: a.Status, LatencyMs: millis(a.Latency),
			Response: excerpt(a.Response), Error: excerpt(a.Error), DownstreamID: DownstreamID(out.TargetKind, a.Outcome, a.Response)}
		if ja.DownstreamID != "" {
			out.DownstreamID = ja.DownstreamID
		}
		out.Attempts = append(out.Attempts, ja)
	}
	if out.TargetKind == "resend" || out.TargetKind == "smtp" {
		out.Email = emailOf(d)
	}
	return out
}

func millis(d time.Duration) float64 {
	return math.Round(float64(d.Microseconds())) / 1000
}

// excerpt shortens s to about journeyExcerpt bytes, on a rune boundary.
func excerpt(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= journeyExcerpt {
		return s
	}
	cut := journeyExcerpt
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// emailOf reads an email delivery's recipients and template from its
// payload, and says how it went.
func emailOf(d *events.Delivery) *JourneyEmail {
	var p struct {
		To       targets.Addresses `json:"to"`
		Template string            `json:"template"`
	}
	_ = json.Unmarshal(d.Payload, &p) // a payload that is not an email names no recipient
	e := &JourneyEmail{To: []string(p.To), Template: p.Template}
	if e.To == nil {
		e.To = []string{}
	}
	switch {
	case d.State == events.StateDelivered:
		e.Outcome = "sent"
	case d.State == events.StateDead:
		e.Outcome = "failed"
	case d.Attempts > 0:
		e.Outcome = "retrying"
	default:
		e.Outcome = "queued"
	}
	return e
}

// explain says why rule matched the event whose document is doc, with the
// rule as it is now.
func (x *journeyRun) explain(rule string, seq int64, doc json.RawMessage) JourneyWhy {
	key := rule + "\x00" + strconv.FormatInt(seq, 10)
	if w, ok := x.why[key]; ok {
		return w
	}
	w := x.explainOnce(rule, doc)
	x.why[key] = w
	return w
}

func (x *journeyRun) explainOnce(rule string, doc json.RawMessage) JourneyWhy {
	if target, ok := strings.CutPrefix(rule, "push:"); ok {
		return x.explainPush(rule, target, doc)
	}
	r, ok := x.rules[rule]
	if !ok {
		return JourneyWhy{Reason: fmt.Sprintf("rule %q no longer exists", rule)}
	}
	w := JourneyWhy{Origin: r.Origin}
	if doc == nil {
		w.Reason = "the event's document was pruned: the match cannot be explained"
		return w
	}
	p := x.pattern(rule)
	if p == nil {
		w.Reason = "the rule's pattern cannot be used: " + x.bad[rule]
		return w
	}
	match, why := events.ExplainRule(p, doc)
	w.Matches, w.Reason = &match, why
	if !match {
		w.Reason = "the rule has changed since: it no longer matches: " + why
	}
	if r.Disabled {
		w.Reason = "(the rule is disabled now) " + w.Reason
	}
	return w
}

// explainPush explains the implicit rule of a push, by the rules in force.
func (x *journeyRun) explainPush(rule, target string, doc json.RawMessage) JourneyWhy {
	var t *events.Target
	if x.cfg != nil {
		t = x.cfg.Targets[target]
	}
	if t == nil || t.Push == nil {
		return JourneyWhy{Reason: fmt.Sprintf("rule %q no longer exists: target %q no longer follows a push scope", rule, target)}
	}
	w := JourneyWhy{Origin: "push"}
	scope := "the whole directory"
	var parts []string
	if len(t.Push.Spec.Organizations) > 0 {
		parts = append(parts, "organizations "+strings.Join(t.Push.Spec.Organizations, ", "))
	}
	if len(t.Push.Spec.Groups) > 0 {
		parts = append(parts, "groups "+strings.Join(t.Push.Spec.Groups, ", "))
	}
	if len(parts) > 0 {
		scope = strings.Join(parts, "; ")
	}
	w.Reason = fmt.Sprintf("the push of target %s follows the lifecycle events of the accounts in its scope (%s)", target, scope)
	if doc == nil {
		w.Reason += "; the event's document was pruned: the match cannot be explained"
		return w
	}
	if x.cfg.Matcher == nil {
		return w
	}
	names, err := x.cfg.Matcher.Match(doc)
	if err != nil {
		w.Reason += "; the stored document cannot be matched: " + err.Error()
		return w
	}
	match := slices.Contains(names, rule)
	w.Matches = &match
	if match {
		w.Reason += "; the account was in scope"
	} else {
		w.Reason += "; the scope has changed since: the document no longer matches it"
	}
	return w
}

// DownstreamID reads the id a target gave from an attempt's response,
// conservatively: the SCIM target's notes ("created user X", "updated
// user X", "user X up to date", "user X already inactive", "deactivated
// user X", "deleted user X", before any "; then: " failure), Resend's email
// id, EventBridge's EventId. A target of unknown kind is read as SCIM.
func DownstreamID(kind, outcome, response string) string {
	delivered := outcome == events.OutcomeDelivered
	switch kind {
	case "scim", "":
		notes := response
		if i := strings.Index(notes, "; then: "); i >= 0 {
			notes = notes[:i]
		} else if !delivered {
			return "" // the response is the error alone
		}
		id := ""
		for _, n := range strings.Split(notes, "; ") {
			if v := scimNoteID(n); v != "" {
				id = v
			}
		}
		return id
	case "resend":
		if delivered && isToken(response) {
			return response
		}
	case "eventbridge":
		if v, ok := strings.CutPrefix(response, "EventId="); ok && delivered {
			v, _, _ = strings.Cut(v, " ")
			if isToken(v) {
				return v
			}
		}
	}
	return ""
}

// scimNoteID is the user id one SCIM target note names, or "".
func scimNoteID(note string) string {
	for _, p := range []string{"created user ", "updated user ", "deactivated user ", "deleted user "} {
		if v, ok := strings.CutPrefix(note, p); ok && isToken(v) {
			return v
		}
	}
	if v, ok := strings.CutPrefix(note, "user "); ok {
		for _, s := range []string{" up to date", " already inactive"} {
			if id, ok := strings.CutSuffix(v, s); ok && isToken(id) {
				return id
			}
		}
	}
	return ""
}

// isToken: one word of printable characters, as ids are.
func isToken(s string) bool {
	if s == "" || len(s) > 256 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) || r == ';' {
			return false
		}
	}
	return true
}

// ---- HTTP

func (a *API) journeyRoutes() {
	a.handle("GET /users/{id}/journey", a.getJourney)
}

func (a *API) getJourney(r *http.Request, _ directory.Actor) (int, any, error) {
	j, err := a.ops.Journey(r.Context(), r.PathValue("id"))
	return http.StatusOK, j, err
}
