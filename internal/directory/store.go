package directory

import (
	"context"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
)

// Store is what the Service needs from storage. Implementations live in
// internal/store/…; internal/store/storetest holds the conformance suite they
// all pass.
type Store interface {
	User(ctx context.Context, id string, opt ReadOptions) (*User, error)
	Users(ctx context.Context, q Query) (*Page[*User], error)
	Group(ctx context.Context, id string, opt ReadOptions) (*Group, error)
	Groups(ctx context.Context, q Query) (*Page[*Group], error)
	Org(ctx context.Context, id string) (*Organization, error)
	Orgs(ctx context.Context) ([]*Organization, error)
	Audit(ctx context.Context, q AuditQuery) ([]*AuditEntry, error)
	// MissingUsers returns those of ids that are not users inside scope
	// (nil: any user).
	MissingUsers(ctx context.Context, ids []string, scope *SyncScope) ([]string, error)
	// UsersGroups returns the groups of each of ids that is a user in at
	// least one group, in group creation order, in one read: those of a
	// batch of events' users. Ids that are no user, or a user in no group,
	// have no entry.
	UsersGroups(ctx context.Context, ids []string) (map[string][]GroupRef, error)
	AuditReader
	// PruneAudit deletes the records older than before, in one transaction
	// that also appends the audit.prune record saying where the chain now
	// starts. It returns how many records it deleted.
	PruneAudit(ctx context.Context, before time.Time, actor Actor, now time.Time) (int64, error)

	// Write runs fn in one transaction and commits it if fn returns nil.
	// fn may run more than once (when the database asks for a retry), so it
	// must not have effects outside tx.
	Write(ctx context.Context, fn func(Tx) error) error
}

// ReadOptions says which derived parts of a resource to load, and what the
// reader may see.
type ReadOptions struct {
	Groups  bool // User.Groups
	Members bool // Group.Members
	// Scope, when set, makes resources outside it not found, and leaves
	// groups and members outside it out of User.Groups and Group.Members.
	// (The Service also leaves out managers outside it.)
	Scope *SyncScope
	// Domain is the provisioning domain whose externalId is read into
	// User.ExternalID and Group.ExternalID, and that filters and sorts on
	// externalId use ("": none).
	Domain string
}

// Query selects a page of users or groups.
type Query struct {
	// Filter is a resolved filter tree, or nil for all.
	Filter filter.Expr
	// Sort is the attribute to sort by, or nil for the stable default order
	// (creation order).
	Sort *filter.Path
	// Descending reverses the order.
	Descending bool
	// After continues a walk after the row with this key (keyset paging).
	// When set, Offset is ignored.
	After *Key
	// Offset skips this many rows (index paging without a known position).
	Offset int
	// Limit is the page size; 0 returns no rows.
	Limit int
	// Count asks for the total number of matches.
	Count bool
	// Scope restricts the query to a synchronization scope (nil: none).
	Scope *SyncScope
	// Read says what to load with each item.
	Read ReadOptions
	// Pinned reports that the list reads one user at most, through a
	// unique index (scim/limits.go, bounded). A store whose reads cannot be
	// held up (SQLite's take no locks) may run it as it runs a point read:
	// the context checked once, not watched.
	Pinned bool
	// Indexed reports that the filter finds its rows through an index (an
	// indexed equality every match must satisfy: scim/limits.go): the
	// scope is then tested on each row found (sqlfilter.UserListScope).
	Indexed bool
}

// Key is the position of a row in a sorted walk: the value it sorts by and
// its creation sequence number, which breaks ties.
type Key struct {
	// Null reports that the sort value is absent (nulls sort last when
	// ascending).
	Null bool
	// Value is the sort value: string, float64, bool or time.Time.
	Value any
	Seq   int64
}

// TotalFromPage returns the number of matches of q when the page read for it
// already tells: a page with nothing after it, reached without keyset
// continuation, that skipped only rows that exist. Stores then skip their
// COUNT query, which for the selective filters clients send most (userName
// eq …) would double the work.
func TotalFromPage(q Query, items int, more bool) (int, bool) {
	if more || q.After != nil || q.Limit <= 0 || (q.Offset > 0 && items == 0) {
		return 0, false
	}
	return q.Offset + items, true
}

// Page is one page of a query's results.
type Page[T any] struct {
	Items []T
	// Total is the number of matches, when Query.Count was set.
	Total int
	// Next is the key of the last item when more items follow it.
	Next *Key
}

// Tx is a write transaction. Reads through Tx see the transaction's own
// writes; the …ForUpdate reads lock the row until the transaction ends.
type Tx interface {
	// UserForUpdate locks and returns the user, with its externalId in
	// domain.
	UserForUpdate(ctx context.Context, id, domain string) (*User, error)
	UserIDByExternalID(ctx context.Context, domain, externalID string) (string, error)
	UserIDByUserName(ctx context.Context, userName string) (string, error)
	// InsertUser and UpdateUser write the user's attributes, times and
	// versions (AttrsVersion and AttrsModified included); its externalId
	// is written by SetUserExternalID. UpdateUser writes u over cur, the
	// user as UserForUpdate returned it in this transaction (nil: unknown).
	InsertUser(ctx context.Context, u *User) error
	UpdateUser(ctx context.Context, cur, u *User) error
	// SetUserExternalID sets the user's externalId in domain, or removes it
	// when externalID is "". A value another user has in domain is an
	// ErrConflict.
	SetUserExternalID(ctx context.Context, id, domain, externalID string) error
	// DeleteUser deletes the user and its memberships, returning the ids of
	// the groups it was a member of, in group creation order.
	DeleteUser(ctx context.Context, id string) (groupIDs []string, err error)
	// MissingUsers returns those of ids that are not users inside scope
	// (nil: any user).
	MissingUsers(ctx context.Context, ids []string, scope *SyncScope) ([]string, error)
	// UserInScope reports whether user id is inside scope.
	UserInScope(ctx context.Context, id string, scope *SyncScope) (bool, error)
	// OrgInScope reports whether organization id is one of scope's
	// organizations or below one.
	OrgInScope(ctx context.Context, id string, scope *SyncScope) (bool, error)
	// UserGroups lists the groups inside scope (nil: all) that user id is
	// a member of, in group creation order.
	UserGroups(ctx context.Context, id string, scope *SyncScope) ([]GroupRef, error)
	// TouchUsers bumps the version of users whose groups changed (not
	// their Modified, AttrsVersion or AttrsModified).
	TouchUsers(ctx context.Context, ids []string, at time.Time) error

	// GroupForUpdate locks and returns the group, with its externalId in
	// domain.
	GroupForUpdate(ctx context.Context, id, domain string) (*Group, error)
	GroupIDByExternalID(ctx context.Context, domain, externalID string) (string, error)
	GroupIDByDisplayName(ctx context.Context, displayName string) (string, error)
	InsertGroup(ctx context.Context, g *Group) error // with g.Members, without the externalId
	UpdateGroup(ctx context.Context, g *Group) error // attributes only, without the externalId
	// SetGroupExternalID is SetUserExternalID for groups.
	SetGroupExternalID(ctx context.Context, id, domain, externalID string) error
	DeleteGroup(ctx context.Context, id string) error
	// Members lists the group's members inside scope (nil: all), in user
	// creation order.
	Members(ctx context.Context, groupID string, scope *SyncScope) ([]Member, error)
	// AddMembers adds those of ids that are not members yet and returns them.
	AddMembers(ctx context.Context, groupID string, ids []string) ([]string, error)
	// RemoveMembers removes those of ids that are members and returns them.
	RemoveMembers(ctx context.Context, groupID string, ids []string) ([]string, error)
	// TouchGroups bumps the version of groups whose members changed, and
	// sets their Modified to at (not their AttrsVersion or AttrsModified).
	TouchGroups(ctx context.Context, ids []string, at time.Time) error

	OrgForUpdate(ctx context.Context, id string) (*Organization, error)
	// OrgExists checks that an organization exists and keeps it from being
	// deleted until the transaction ends, without blocking other
	// transactions that place resources in it.
	OrgExists(ctx context.Context, id string) (bool, error)
	InsertOrg(ctx context.Context, o *Organization) error
	UpdateOrg(ctx context.Context, o *Organization) error
	DeleteOrg(ctx context.Context, id string) error
	// OrgInUse reports whether an organization has children, users or
	// groups.
	OrgInUse(ctx context.Context, id string) (bool, error)

	AppendAudit(ctx context.Context, e *AuditEntry) error
	// AppendEvents writes events to the outbox, setting their Seq. Called
	// after AppendAudit in the same transaction: sequence numbers then
	// follow commit order.
	AppendEvents(ctx context.Context, evs []*EventRecord) error
	// MarkActivated records that user id is active, and reports whether
	// it is the first time (false: it has been active before).
	MarkActivated(ctx context.Context, id string, at time.Time) (bool, error)
	// AddActivation records the first activation of user id, created
	// active in this transaction: a new account has no activation yet
	// (activations are deleted with their account), so nothing need be
	// read, and a store may send it with the next statement. A row that
	// is there all the same (a database edited with its foreign keys off)
	// is kept, and the create goes through, as with MarkActivated.
	AddActivation(ctx context.Context, id string, at time.Time) error
	// EndSessions ends user id's sign-in sessions (internal/login) and
	// revokes her single sign-on grants (refresh tokens) at at: a disabled
	// account, or one whose password was set, is signed out everywhere, in
	// the transaction that changes it, and enabling it again revives
	// neither. (Deleting a user deletes its sessions; its grants no longer
	// refresh: the person is gone.)
	EndSessions(ctx context.Context, id string, at time.Time) error
}

// AuditQuery selects audit entries, newest first. Empty fields select all.
type AuditQuery struct {
	ResourceID string    // the subject
	Actor      string    // application id or name, or "cli" / "system"
	Action     string    // an action ("user.create") or a prefix ending in "." ("user.")
	Since      time.Time // inclusive
	Until      time.Time // exclusive
	BeforeSeq  int64     // 0 for the newest
	Limit      int
}
