package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// PasswordHasher turns a cleartext password into a stored hash.
type PasswordHasher interface {
	Hash(ctx context.Context, password string) (string, error)
}

// Service applies the directory's rules to changes and records each change
// with its audit entry in one transaction.
type Service struct {
	store     Store
	hasher    PasswordHasher
	policy    PasswordPolicy
	now       func() time.Time
	newID     func() string
	retention time.Duration
}

// Options configures a Service.
type Options struct {
	Hasher PasswordHasher
	Policy PasswordPolicy
	Now    func() time.Time
	NewID  func() string
	// AuditRetention is the configured audit retention (0: AuditRetention):
	// pruning keeps records at least this long, and verification holds
	// pruning to it.
	AuditRetention time.Duration
}

// NewService returns a Service over store.
func NewService(store Store, opt Options) *Service {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.AuditRetention == 0 {
		opt.AuditRetention = AuditRetention
	}
	return &Service{store: store, hasher: opt.Hasher, policy: opt.Policy, now: opt.Now, newID: opt.NewID, retention: opt.AuditRetention}
}

// maxRetries bounds optimistic-concurrency retries of one change.
const maxRetries = 8

// errRetry makes an update start over: the row changed between the read it
// was computed from and the write.
var errRetry = errors.New("retry")

func (s *Service) stamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// ---- users

// User returns a user inside p's synchronization scope, as p sees it.
func (s *Service) User(ctx context.Context, p Profile, id string, opt ReadOptions) (*User, error) {
	opt.Scope, opt.Domain = p.Scope.restriction(), p.Domain
	groups := opt.Groups
	// The version p sees derives from the groups it sees.
	opt.Groups = groups || opt.Scope != nil
	u, err := s.store.User(ctx, id, opt)
	if err != nil {
		return nil, err
	}
	if _, err := scopedUsers(ctx, s.store.MissingUsers, opt.Scope, u); err != nil {
		return nil, err
	}
	seeUsers(opt.Scope, groups, u)
	return u, nil
}

// Users returns a page of the users inside p's synchronization scope, as p
// sees them.
func (s *Service) Users(ctx context.Context, p Profile, q Query) (*Page[*User], error) {
	q.Scope = p.Scope.restriction()
	q.Read.Scope, q.Read.Domain = q.Scope, p.Domain
	groups := q.Read.Groups
	q.Read.Groups = groups || q.Scope != nil
	page, err := s.store.Users(ctx, q)
	if err != nil {
		return nil, err
	}
	if _, err := scopedUsers(ctx, s.store.MissingUsers, q.Scope, page.Items...); err != nil {
		return nil, err
	}
	seeUsers(q.Scope, groups, page.Items...)
	return page, nil
}

// viewUser returns what p sees of u, read in tx — u itself without a
// scope, else a copy without a manager p cannot see and with the version
// and lastModified p sees — and the manager left out.
func viewUser(ctx context.Context, tx Tx, p Profile, u *User) (*User, any, error) {
	sc := p.Scope.restriction()
	if sc == nil {
		return u, nil, nil
	}
	v := u.Clone()
	hidden, err := scopedUsers(ctx, tx.MissingUsers, sc, v)
	if err != nil {
		return nil, nil, err
	}
	if v.Groups, err = tx.UserGroups(ctx, v.ID, sc); err != nil {
		return nil, nil, err
	}
	seeUsers(sc, false, v)
	return v, hidden[v], nil
}

// notFound is how a resource outside the caller's scope looks: absent.
func notFound(kind, id string) error {
	return &Error{Kind: ErrNotFound, Op: "get " + kind, Msg: fmt.Sprintf("%s %q not found", kind, id)}
}

// visibleUser fails with ErrNotFound when u is outside p's scope.
func visibleUser(ctx context.Context, tx Tx, p Profile, u *User) error {
	sc := p.Scope.restriction()
	if sc == nil {
		return nil
	}
	ok, err := tx.UserInScope(ctx, u.ID, sc)
	if err != nil {
		return err
	}
	if !ok {
		return notFound("User", u.ID)
	}
	return nil
}

// visibleGroup fails with ErrNotFound when g is outside p's scope.
func visibleGroup(ctx context.Context, tx Tx, p Profile, g *Group) error {
	sc := p.Scope.restriction()
	if sc == nil || slices.Contains(sc.GroupIDs, g.ID) {
		return nil
	}
	ok, err := tx.OrgInScope(ctx, g.OrgID, sc)
	if err != nil {
		return err
	}
	if !ok {
		return notFound("Group", g.ID)
	}
	return nil
}

// requirePlacement checks that resources may be placed in organization id:
// it exists and is inside p's scope. For a caller with a scope, an
// organization outside it does not exist: both refusals are the same, so
// that organizationId cannot tell it which organizations exist.
func (s *Service) requirePlacement(ctx context.Context, tx Tx, p Profile, id string) error {
	sc := p.Scope.restriction()
	if sc == nil {
		return s.requireOrg(ctx, tx, id)
	}
	if len(sc.OrgIDs) == 0 {
		// The same answer for every organization: it tells nothing of
		// which exist.
		return Errorf(ErrInvalid, "organizationId", "the application's synchronization scope holds groups only, which place nothing "+
			"in an organization: it changes the accounts and groups of its scope but creates or moves none (give the application "+
			"organizations too, gatehouse app update --sync-orgs)")
	}
	ok, err := tx.OrgExists(ctx, id)
	if err == nil && ok {
		ok, err = tx.OrgInScope(ctx, id, sc)
	}
	if err != nil {
		return err
	}
	if !ok {
		return Errorf(ErrInvalid, "organizationId", "organization %q does not exist inside the application's synchronization scope", id)
	}
	return nil
}

// preparePassword checks and hashes u.Password, if set, and forgets the
// cleartext. It runs outside any transaction: hashing is slow on purpose.
func (s *Service) preparePassword(ctx context.Context, u *User) error {
	if u.Password == "" {
		return nil
	}
	return s.hashPassword(ctx, u, u.UserName)
}

func (s *Service) hashPassword(ctx context.Context, u *User, userName string) error {
	if err := s.policy.Check(u.Password, userName); err != nil {
		return errPassword(err)
	}
	h, err := s.hasher.Hash(ctx, u.Password)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	u.PasswordHash, u.Password = h, ""
	return nil
}

// CreateUser creates u. Under an idempotent profile, an account that
// already exists with u's externalId (else userName) is replaced instead, and
// created is false.
func (s *Service) CreateUser(ctx context.Context, actor Actor, p Profile, u *User) (out *User, created bool, err error) {
	u = u.Clone()
	if err := checkUser(u, p); err != nil {
		return nil, false, err
	}
	if err := s.preparePassword(ctx, u); err != nil {
		return nil, false, err
	}
	if u.OrgID == "" {
		u.OrgID = p.TargetOrgID
	}
	if u.OrgID == "" {
		u.OrgID = RootOrgID
	}
	for attempt := 0; ; attempt++ {
		out, created, err = s.createUser(ctx, actor, p, u)
		// Two idempotent creates of one new account can race on a database
		// with concurrent writers: the loser sees a uniqueness conflict and,
		// run again, finds the winner's row and updates it.
		if err != nil && p.Idempotent && errors.Is(err, ErrConflict) && attempt < 2 {
			continue
		}
		return out, created, err
	}
}

func (s *Service) createUser(ctx context.Context, actor Actor, p Profile, in *User) (*User, bool, error) {
	var out *User
	var created bool
	err := s.store.Write(ctx, func(tx Tx) error {
		u := in.Clone()
		if err := s.requirePlacement(ctx, tx, p, u.OrgID); err != nil {
			return err
		}
		now := s.stamp()
		if p.Idempotent {
			cur, err := s.findUser(ctx, tx, p.Domain, u)
			if err != nil {
				return err
			}
			if cur != nil {
				if visibleUser(ctx, tx, p, cur) != nil {
					// It exists, outside the caller's scope: the caller may
					// not see it, but the value stays taken.
					return Errorf(ErrConflict, "userName", "userName or externalId is already taken")
				}
				_, mgr, err := viewUser(ctx, tx, p, cur)
				if err != nil {
					return err
				}
				if err := checkManager(ctx, tx, p, cur, managerID(u)); err != nil {
					return err
				}
				next := replaceUser(cur, u, now)
				restoreManager(next, mgr)
				if err := checkUserName(cur, next); err != nil {
					return err
				}
				stampUser(cur, next, now)
				if err := writeUser(ctx, tx, p, cur, next); err != nil {
					return err
				}
				if out, _, err = viewUser(ctx, tx, p, next); err != nil {
					return err
				}
				created = false
				return s.recordUser(ctx, tx, s.audit(actor, "user.replace", cur, next, now), cur, next)
			}
		}
		if err := checkUserName(nil, u); err != nil {
			return err
		}
		if err := checkManager(ctx, tx, p, nil, managerID(u)); err != nil {
			return err
		}
		u.ID = s.newID()
		u.Created, u.Modified, u.Version = now, now, 1
		u.AttrsModified, u.AttrsVersion = now, 1
		u.Groups = nil
		if err := insertUser(ctx, tx, p, u); err != nil {
			return err
		}
		var err error
		if out, _, err = viewUser(ctx, tx, p, u); err != nil {
			return err
		}
		created = true
		return s.recordUser(ctx, tx, s.audit(actor, "user.create", nil, u, now), nil, u)
	})
	return out, created, err
}

// findUser finds the existing account an idempotent create refers to: same
// externalId in the caller's domain, else same userName.
func (s *Service) findUser(ctx context.Context, tx Tx, domain string, u *User) (*User, error) {
	var id string
	var err error
	if u.ExternalID != "" {
		if id, err = tx.UserIDByExternalID(ctx, domain, u.ExternalID); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	if id == "" {
		if id, err = tx.UserIDByUserName(ctx, u.UserName); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	if id == "" {
		return nil, nil
	}
	return tx.UserForUpdate(ctx, id, domain)
}

// insertUser stores a new user with its externalId in p's domain.
func insertUser(ctx context.Context, tx Tx, p Profile, u *User) error {
	if err := tx.InsertUser(ctx, u); err != nil {
		return err
	}
	if u.ExternalID == "" {
		return nil
	}
	return tx.SetUserExternalID(ctx, u.ID, p.Domain, u.ExternalID)
}

// writeUser stores next over cur, with its externalId in p's domain.
func writeUser(ctx context.Context, tx Tx, p Profile, cur, next *User) error {
	if err := tx.UpdateUser(ctx, cur, next); err != nil {
		return err
	}
	if cur.ExternalID == next.ExternalID {
		return nil
	}
	return tx.SetUserExternalID(ctx, next.ID, p.Domain, next.ExternalID)
}

// replaceUser builds the replacement of cur by u (PUT semantics): u's
// attributes, cur's identity, creation time and — when u sets none — password
// and organization. u's password has been hashed (preparePassword: the
// cleartext is gone, the hash is set).
func replaceUser(cur, u *User, now time.Time) *User {
	next := u.Clone()
	next.ID, next.Created = cur.ID, cur.Created
	next.Modified, next.Version = now, cur.Version+1
	if next.Password == "" && next.PasswordHash == "" {
		next.PasswordHash = cur.PasswordHash
	}
	if next.OrgID == "" {
		next.OrgID = cur.OrgID
	}
	next.Groups = nil
	return next
}

func (s *Service) requireOrg(ctx context.Context, tx Tx, id string) error {
	if id == RootOrgID {
		// In every database, and it cannot be deleted: nothing to ask (or
		// to lock) — most accounts are created in it.
		return nil
	}
	ok, err := tx.OrgExists(ctx, id)
	if err != nil {
		return err
	}
	if !ok {
		return Errorf(ErrInvalid, "organizationId", "organization %q does not exist", id)
	}
	return nil
}

// ReplaceUser replaces user id with u (PUT). expect, if not nil, must accept
// the current version (If-Match).
func (s *Service) ReplaceUser(ctx context.Context, actor Actor, p Profile, id string, u *User, expect func(int64) bool) (*User, error) {
	return s.replaceUser(ctx, actor, p, id, u, expect, false)
}

// ReplaceUserWithGroups is ReplaceUser returning the user with its groups,
// as User with ReadOptions{Groups: true} shows it to p, read in the change's
// own transaction: exactly what the change left, without a read after it.
func (s *Service) ReplaceUserWithGroups(ctx context.Context, actor Actor, p Profile, id string, u *User, expect func(int64) bool) (*User, error) {
	return s.replaceUser(ctx, actor, p, id, u, expect, true)
}

func (s *Service) replaceUser(ctx context.Context, actor Actor, p Profile, id string, u *User, expect func(int64) bool, withGroups bool) (*User, error) {
	u = u.Clone()
	if err := checkUser(u, p); err != nil {
		return nil, err
	}
	if err := s.preparePassword(ctx, u); err != nil {
		return nil, err
	}
	var out *User
	err := s.store.Write(ctx, func(tx Tx) error {
		cur, err := tx.UserForUpdate(ctx, id, p.Domain)
		if err != nil {
			return err
		}
		if err := visibleUser(ctx, tx, p, cur); err != nil {
			return err
		}
		view, mgr, err := viewUser(ctx, tx, p, cur)
		if err != nil {
			return err
		}
		if expect != nil && !expect(view.Version) {
			return &Error{Kind: ErrPrecondition, Op: "replace user", Msg: "the user has changed since the version given in If-Match"}
		}
		if u.OrgID != "" && u.OrgID != cur.OrgID {
			if err := s.requirePlacement(ctx, tx, p, u.OrgID); err != nil {
				return err
			}
		}
		if err := checkManager(ctx, tx, p, cur, managerID(u)); err != nil {
			return err
		}
		now := s.stamp()
		next := replaceUser(cur, u, now)
		restoreManager(next, mgr)
		if err := checkUserName(cur, next); err != nil {
			return err
		}
		if sameUser(cur, next) {
			out, err = addGroups(ctx, tx, p, view, withGroups)
			return err
		}
		stampUser(cur, next, now)
		if err := writeUser(ctx, tx, p, cur, next); err != nil {
			return err
		}
		if out, _, err = viewUser(ctx, tx, p, next); err != nil {
			return err
		}
		if err := s.recordUser(ctx, tx, s.audit(actor, "user.replace", cur, next, now), cur, next); err != nil {
			return err
		}
		out, err = addGroups(ctx, tx, p, out, withGroups)
		return err
	})
	return out, err
}

// addGroups returns v, a view of a user for p (viewUser), with its groups
// inside p's scope when with is set, as User with ReadOptions{Groups: true}
// shows them (a scoped view's version already derives from the same
// groups). v itself may be the user just recorded, so it is copied.
func addGroups(ctx context.Context, tx Tx, p Profile, v *User, with bool) (*User, error) {
	if !with {
		return v, nil
	}
	groups, err := tx.UserGroups(ctx, v.ID, p.Scope.restriction())
	if err != nil {
		return nil, err
	}
	v = v.Clone()
	v.Groups = groups
	return v, nil
}

// UpdateUser applies mutate to a copy of user id and stores the result
// (PATCH). mutate runs inside the transaction, on the locked current state,
// so concurrent updates never lose each other's changes; it must have no
// effects beyond the user it is given, as it may run more than once. If
// nothing changes, nothing is written.
func (s *Service) UpdateUser(ctx context.Context, actor Actor, p Profile, id string, expect func(int64) bool, mutate func(*User) error) (*User, error) {
	return s.updateUser(ctx, actor, p, id, expect, mutate, false)
}

// UpdateUserWithGroups is UpdateUser returning the user with its groups,
// as ReplaceUserWithGroups does.
func (s *Service) UpdateUserWithGroups(ctx context.Context, actor Actor, p Profile, id string, expect func(int64) bool, mutate func(*User) error) (*User, error) {
	return s.updateUser(ctx, actor, p, id, expect, mutate, true)
}

func (s *Service) updateUser(ctx context.Context, actor Actor, p Profile, id string, expect func(int64) bool, mutate func(*User) error, withGroups bool) (*User, error) {
	hashes := map[string]string{} // new cleartext password → its hash
	for attempt := 0; attempt < maxRetries; attempt++ {
		var out *User
		var pending, pendingUser string // a new password that must be hashed first, and its user name
		err := s.store.Write(ctx, func(tx Tx) error {
			cur, err := tx.UserForUpdate(ctx, id, p.Domain)
			if err != nil {
				return err
			}
			if err := visibleUser(ctx, tx, p, cur); err != nil {
				return err
			}
			// mutate sees what the caller sees; a manager it cannot see
			// stays unless it sets another.
			view, mgr, err := viewUser(ctx, tx, p, cur)
			if err != nil {
				return err
			}
			if expect != nil && !expect(view.Version) {
				return &Error{Kind: ErrPrecondition, Op: "update user", Msg: "the user has changed since the version given in If-Match"}
			}
			next := view.Clone()
			next.Password = ""
			if err := mutate(next); err != nil {
				return err
			}
			if err := checkManager(ctx, tx, p, cur, managerID(next)); err != nil {
				return err
			}
			restoreManager(next, mgr)
			next.ID, next.Created, next.Version, next.Groups = cur.ID, cur.Created, cur.Version, nil
			next.Modified, next.AttrsVersion, next.AttrsModified = cur.Modified, cur.AttrsVersion, cur.AttrsModified
			if err := checkUserChange(cur, next, p); err != nil {
				return err
			}
			if err := checkUserName(cur, next); err != nil {
				return err
			}
			if next.Password != "" {
				h, ok := hashes[next.Password]
				if !ok {
					// Hashing is slow on purpose: do it outside the
					// transaction, then come back.
					pending, pendingUser = next.Password, next.UserName
					return errRetry
				}
				next.PasswordHash, next.Password = h, ""
			}
			if sameUser(cur, next) {
				out, err = addGroups(ctx, tx, p, view, withGroups)
				return err
			}
			if next.OrgID != cur.OrgID {
				if err := s.requirePlacement(ctx, tx, p, next.OrgID); err != nil {
					return err
				}
			}
			now := s.stamp()
			next.Modified, next.Version = now, cur.Version+1
			stampUser(cur, next, now)
			if err := writeUser(ctx, tx, p, cur, next); err != nil {
				return err
			}
			if out, _, err = viewUser(ctx, tx, p, next); err != nil {
				return err
			}
			if err := s.recordUser(ctx, tx, s.audit(actor, "user.update", cur, next, now), cur, next); err != nil {
				return err
			}
			out, err = addGroups(ctx, tx, p, out, withGroups)
			return err
		})
		if errors.Is(err, errRetry) && pending != "" {
			u := &User{Password: pending}
			if err := s.hashPassword(ctx, u, pendingUser); err != nil {
				return nil, err
			}
			hashes[pending] = u.PasswordHash
			continue
		}
		return out, err
	}
	return nil, &Error{Kind: ErrBusy, Op: "update user", Msg: "the user is being changed by others; try again"}
}

func sameUser(a, b *User) bool {
	return a.UserName == b.UserName && a.ExternalID == b.ExternalID && a.DisplayName == b.DisplayName &&
		a.Active == b.Active && a.OrgID == b.OrgID && a.PasswordHash == b.PasswordHash &&
		equalAttrs(a.Attrs, b.Attrs)
}

func equalAttrs(a, b Attrs) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return sameJSON(a, b)
}

// DeleteUser deletes user id and its memberships — in every group, those
// outside p's synchronization scope included: an account inside the scope
// is p's to delete, and a deleted account is a member of nothing. Each
// group the account leaves records it like any membership change, in the
// same transaction: an audit record (group.update, the member in
// membersRemoved) and a Group.MemberRemoved event, before the account's
// user.delete record and User.Deleted event.
func (s *Service) DeleteUser(ctx context.Context, actor Actor, p Profile, id string, expect func(int64) bool) error {
	return s.store.Write(ctx, func(tx Tx) error {
		cur, err := tx.UserForUpdate(ctx, id, p.Domain)
		if err != nil {
			return err
		}
		if err := visibleUser(ctx, tx, p, cur); err != nil {
			return err
		}
		if expect != nil {
			view, _, err := viewUser(ctx, tx, p, cur)
			if err != nil {
				return err
			}
			if !expect(view.Version) {
				return &Error{Kind: ErrPrecondition, Op: "delete user", Msg: "the user has changed since the version given in If-Match"}
			}
		}
		groups, err := tx.DeleteUser(ctx, id)
		if err != nil {
			return err
		}
		before := make([]*Group, len(groups))
		for i, gid := range groups {
			if before[i], err = tx.GroupForUpdate(ctx, gid, p.Domain); err != nil {
				return err
			}
		}
		now := s.stamp()
		if err := tx.TouchGroups(ctx, groups, now); err != nil {
			return err
		}
		left := []string{id}
		for _, g := range before {
			after := g.Clone()
			after.Version, after.Modified = g.Version+1, now // as TouchGroups made it
			if err := s.recordGroup(ctx, tx, s.auditGroup(actor, "group.update", g, after, nil, left, now), g, after, nil, left); err != nil {
				return err
			}
		}
		return s.recordUser(ctx, tx, s.audit(actor, "user.delete", cur, nil, now), cur, nil)
	})
}

// ---- groups

// Group returns a group inside p's scope, with its members inside it.
func (s *Service) Group(ctx context.Context, p Profile, id string, opt ReadOptions) (*Group, error) {
	opt.Scope, opt.Domain = p.Scope.restriction(), p.Domain
	members := opt.Members
	// The version p sees derives from the members it sees.
	opt.Members = members || opt.Scope != nil
	g, err := s.store.Group(ctx, id, opt)
	if err != nil {
		return nil, err
	}
	seeGroups(opt.Scope, members, g)
	return g, nil
}

// Groups returns a page of the groups inside p's scope.
func (s *Service) Groups(ctx context.Context, p Profile, q Query) (*Page[*Group], error) {
	q.Scope = p.Scope.restriction()
	q.Read.Scope, q.Read.Domain = q.Scope, p.Domain
	members := q.Read.Members
	q.Read.Members = members || q.Scope != nil
	page, err := s.store.Groups(ctx, q)
	if err != nil {
		return nil, err
	}
	seeGroups(q.Scope, members, page.Items...)
	return page, nil
}

// MemberOpKind is the kind of a membership change.
type MemberOpKind int

// Membership changes.
const (
	AddMembers     MemberOpKind = iota // add IDs (those already members are ignored)
	RemoveMembers                      // remove IDs (those not members are ignored)
	ReplaceMembers                     // make IDs the exact member list
	RemoveMatching                     // remove the members Match selects
)

// MemberOp is one membership change. Changes are applied as deltas inside
// the transaction, so concurrent changes to one group never lose members and
// large groups are not rewritten.
type MemberOp struct {
	Kind  MemberOpKind
	IDs   []string
	Match func(Member) bool
}

// CreateGroup creates g with its members. Under an idempotent profile, a
// group that exists with g's externalId (else displayName) is replaced
// instead.
func (s *Service) CreateGroup(ctx context.Context, actor Actor, p Profile, g *Group) (*Group, bool, error) {
	g = g.Clone()
	if err := checkGroup(g, p); err != nil {
		return nil, false, err
	}
	if g.OrgID == "" {
		g.OrgID = p.TargetOrgID
	}
	if g.OrgID == "" {
		g.OrgID = RootOrgID
	}
	var out *Group
	var created bool
	var err error
	for attempt := 0; ; attempt++ {
		out, created, err = s.createGroup(ctx, actor, p, g)
		if err != nil && p.Idempotent && errors.Is(err, ErrConflict) && attempt < 2 {
			continue
		}
		return out, created, err
	}
}

func (s *Service) createGroup(ctx context.Context, actor Actor, p Profile, in *Group) (*Group, bool, error) {
	var out *Group
	var created bool
	err := s.store.Write(ctx, func(tx Tx) error {
		g := in.Clone()
		if err := s.requirePlacement(ctx, tx, p, g.OrgID); err != nil {
			return err
		}
		ids := memberIDs(g.Members)
		if err := requireUsers(ctx, tx, ids, p.Scope.restriction()); err != nil {
			return err
		}
		now := s.stamp()
		if p.Idempotent {
			var id string
			var err error
			if g.ExternalID != "" {
				if id, err = tx.GroupIDByExternalID(ctx, p.Domain, g.ExternalID); err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
			}
			if id == "" {
				if id, err = tx.GroupIDByDisplayName(ctx, g.DisplayName); err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
			}
			if id != "" {
				res, err := s.replaceGroupTx(ctx, tx, actor, p, id, g, []MemberOp{{Kind: ReplaceMembers, IDs: ids}}, nil, now)
				if errors.Is(err, ErrNotFound) {
					return Errorf(ErrConflict, "displayName", "a group with this displayName or externalId already exists")
				}
				if err != nil {
					return err
				}
				out, err = viewGroup(ctx, tx, p, res)
				return err
			}
		}
		if err := checkGroupName(nil, g); err != nil {
			return err
		}
		g.ID = s.newID()
		g.Created, g.Modified, g.Version = now, now, 1
		g.AttrsModified, g.AttrsVersion = now, 1
		if err := tx.InsertGroup(ctx, g); err != nil {
			return err
		}
		if g.ExternalID != "" {
			if err := tx.SetGroupExternalID(ctx, g.ID, p.Domain, g.ExternalID); err != nil {
				return err
			}
		}
		if err := tx.TouchUsers(ctx, ids, now); err != nil {
			return err
		}
		if err := s.recordGroup(ctx, tx, s.auditGroup(actor, "group.create", nil, g, ids, nil, now), nil, g, ids, nil); err != nil {
			return err
		}
		var err error
		out, err = viewGroup(ctx, tx, p, g)
		created = true
		return err
	})
	return out, created, err
}

// ReplaceGroup replaces group id's attributes with g's (PUT). Its members
// are replaced by g.Members when replaceMembers is set; a PUT without a
// "members" attribute keeps them.
func (s *Service) ReplaceGroup(ctx context.Context, actor Actor, p Profile, id string, g *Group, replaceMembers bool, expect func(int64) bool) (*Group, error) {
	g = g.Clone()
	if err := checkGroup(g, p); err != nil {
		return nil, err
	}
	var ops []MemberOp
	if replaceMembers {
		ops = []MemberOp{{Kind: ReplaceMembers, IDs: memberIDs(g.Members)}}
	}
	var out *Group
	err := s.store.Write(ctx, func(tx Tx) error {
		res, err := s.replaceGroupTx(ctx, tx, actor, p, id, g, ops, expect, s.stamp())
		if err != nil {
			return err
		}
		out, err = viewGroup(ctx, tx, p, res)
		return err
	})
	return out, err
}

func (s *Service) replaceGroupTx(ctx context.Context, tx Tx, actor Actor, p Profile, id string, g *Group, ops []MemberOp, expect func(int64) bool, now time.Time) (*Group, error) {
	cur, err := tx.GroupForUpdate(ctx, id, p.Domain)
	if err != nil {
		return nil, err
	}
	if err := visibleGroup(ctx, tx, p, cur); err != nil {
		return nil, err
	}
	if err := expectGroup(ctx, tx, p, cur, expect, "replace group"); err != nil {
		return nil, err
	}
	next := g.Clone()
	next.ID, next.Created, next.Version, next.Modified = cur.ID, cur.Created, cur.Version, cur.Modified
	next.AttrsVersion, next.AttrsModified = cur.AttrsVersion, cur.AttrsModified
	if next.OrgID == "" {
		next.OrgID = cur.OrgID
	} else if next.OrgID != cur.OrgID {
		if err := s.requirePlacement(ctx, tx, p, next.OrgID); err != nil {
			return nil, err
		}
	}
	return s.applyGroup(ctx, tx, actor, p, "group.replace", cur, next, ops, now)
}

// applyGroup writes next's attributes and applies ops, inside tx, with cur
// locked. It writes nothing when nothing changes.
func (s *Service) applyGroup(ctx context.Context, tx Tx, actor Actor, p Profile, action string, cur, next *Group, ops []MemberOp, now time.Time) (*Group, error) {
	if err := checkGroupName(cur, next); err != nil {
		return nil, err
	}
	added, removed, err := applyMemberOps(ctx, tx, cur.ID, ops, p.Scope.restriction())
	if err != nil {
		return nil, err
	}
	attrsChanged := cur.DisplayName != next.DisplayName || cur.ExternalID != next.ExternalID ||
		cur.OrgID != next.OrgID || !equalAttrs(cur.Attrs, next.Attrs)
	if !attrsChanged && len(added) == 0 && len(removed) == 0 {
		return cur, nil
	}
	next.Version, next.Modified = cur.Version+1, now
	if attrsChanged {
		next.AttrsVersion, next.AttrsModified = cur.AttrsVersion+1, now
	}
	next.Members = nil
	if err := tx.UpdateGroup(ctx, next); err != nil {
		return nil, err
	}
	if cur.ExternalID != next.ExternalID {
		if err := tx.SetGroupExternalID(ctx, next.ID, p.Domain, next.ExternalID); err != nil {
			return nil, err
		}
	}
	if err := tx.TouchUsers(ctx, append(slices.Clone(added), removed...), now); err != nil {
		return nil, err
	}
	return next, s.recordGroup(ctx, tx, s.auditGroup(actor, action, cur, next, added, removed, now), cur, next, added, removed)
}

// expectGroup checks If-Match: expect, if not nil, must accept the version
// of g that p sees.
func expectGroup(ctx context.Context, tx Tx, p Profile, g *Group, expect func(int64) bool, op string) error {
	if expect == nil {
		return nil
	}
	v, err := viewGroup(ctx, tx, p, g)
	if err != nil {
		return err
	}
	if !expect(v.Version) {
		return &Error{Kind: ErrPrecondition, Op: op, Msg: "the group has changed since the version given in If-Match"}
	}
	return nil
}

// applyMemberOps applies membership changes. Members outside scope do not
// exist for the caller: it cannot add them, and removals and replacements
// leave them alone.
func applyMemberOps(ctx context.Context, tx Tx, groupID string, ops []MemberOp, scope *SyncScope) (added, removed []string, err error) {
	addedSet, removedSet := map[string]bool{}, map[string]bool{}
	note := func(ids []string, add bool) {
		for _, id := range ids {
			if add {
				if removedSet[id] {
					delete(removedSet, id) // removed then re-added: no net change
				} else {
					addedSet[id] = true
				}
			} else {
				if addedSet[id] {
					delete(addedSet, id)
				} else {
					removedSet[id] = true
				}
			}
		}
	}
	for _, op := range ops {
		switch op.Kind {
		case AddMembers:
			if err := requireUsers(ctx, tx, op.IDs, scope); err != nil {
				return nil, nil, err
			}
			ids, err := tx.AddMembers(ctx, groupID, op.IDs)
			if err != nil {
				return nil, nil, err
			}
			note(ids, true)
		case RemoveMembers:
			visible := op.IDs
			if scope != nil {
				hidden, err := tx.MissingUsers(ctx, op.IDs, scope)
				if err != nil {
					return nil, nil, err
				}
				visible = slices.DeleteFunc(slices.Clone(op.IDs), func(id string) bool { return slices.Contains(hidden, id) })
			}
			ids, err := tx.RemoveMembers(ctx, groupID, visible)
			if err != nil {
				return nil, nil, err
			}
			note(ids, false)
		case ReplaceMembers, RemoveMatching:
			cur, err := tx.Members(ctx, groupID, scope)
			if err != nil {
				return nil, nil, err
			}
			want := map[string]bool{}
			for _, id := range op.IDs {
				want[id] = true
			}
			var drop []string
			for _, m := range cur {
				if (op.Kind == ReplaceMembers && !want[m.ID]) || (op.Kind == RemoveMatching && op.Match(m)) {
					drop = append(drop, m.ID)
				}
			}
			ids, err := tx.RemoveMembers(ctx, groupID, drop)
			if err != nil {
				return nil, nil, err
			}
			note(ids, false)
			if op.Kind == ReplaceMembers {
				if err := requireUsers(ctx, tx, op.IDs, scope); err != nil {
					return nil, nil, err
				}
				ids, err := tx.AddMembers(ctx, groupID, op.IDs)
				if err != nil {
					return nil, nil, err
				}
				note(ids, true)
			}
		}
	}
	return sortedKeys(addedSet), sortedKeys(removedSet), nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func requireUsers(ctx context.Context, tx Tx, ids []string, scope *SyncScope) error {
	if len(ids) == 0 {
		return nil
	}
	missing, err := tx.MissingUsers(ctx, ids, scope)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return Errorf(ErrInvalid, "members", "member %q is not a user (members must be existing users; nested groups are not supported)", missing[0])
	}
	return nil
}

func memberIDs(ms []Member) []string {
	ids := make([]string, 0, len(ms))
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	return ids
}

// UpdateGroup applies mutate to a copy of group id's attributes and ops to
// its membership, atomically (PATCH). Both run inside the transaction on the
// locked group: membership changes are applied as deltas, so concurrent
// changes never lose members and large groups are not rewritten.
func (s *Service) UpdateGroup(ctx context.Context, actor Actor, p Profile, id string, expect func(int64) bool, mutate func(*Group) error, ops []MemberOp) (*Group, error) {
	var out *Group
	err := s.store.Write(ctx, func(tx Tx) error {
		cur, err := tx.GroupForUpdate(ctx, id, p.Domain)
		if err != nil {
			return err
		}
		if err := visibleGroup(ctx, tx, p, cur); err != nil {
			return err
		}
		if err := expectGroup(ctx, tx, p, cur, expect, "update group"); err != nil {
			return err
		}
		next := cur.Clone()
		if mutate != nil {
			if err := mutate(next); err != nil {
				return err
			}
		}
		next.ID, next.Created, next.Version, next.Modified, next.Members = cur.ID, cur.Created, cur.Version, cur.Modified, nil
		if err := checkGroup(next, p); err != nil {
			return err
		}
		if next.OrgID != cur.OrgID {
			if err := s.requirePlacement(ctx, tx, p, next.OrgID); err != nil {
				return err
			}
		}
		res, err := s.applyGroup(ctx, tx, actor, p, "group.update", cur, next, ops, s.stamp())
		if err != nil {
			return err
		}
		out, err = viewGroup(ctx, tx, p, res)
		return err
	})
	return out, err
}

// DeleteGroup deletes group id. A caller with a synchronization scope
// cannot delete a group that still has members outside its scope: replacing
// or removing members leaves those members alone, and so must a deletion
// (ErrInUse until they are gone).
func (s *Service) DeleteGroup(ctx context.Context, actor Actor, p Profile, id string, expect func(int64) bool) error {
	return s.store.Write(ctx, func(tx Tx) error {
		cur, err := tx.GroupForUpdate(ctx, id, p.Domain)
		if err != nil {
			return err
		}
		if err := visibleGroup(ctx, tx, p, cur); err != nil {
			return err
		}
		if err := expectGroup(ctx, tx, p, cur, expect, "delete group"); err != nil {
			return err
		}
		members, err := tx.Members(ctx, id, nil)
		if err != nil {
			return err
		}
		if sc := p.Scope.restriction(); sc != nil && len(members) > 0 {
			hidden, err := tx.MissingUsers(ctx, memberIDs(members), sc)
			if err != nil {
				return err
			}
			if len(hidden) > 0 {
				return &Error{Kind: ErrInUse, Op: "delete group", Field: "members",
					Msg: "the group has members outside the application's synchronization scope; it can be deleted once they have left it"}
			}
		}
		if err := tx.DeleteGroup(ctx, id); err != nil {
			return err
		}
		now := s.stamp()
		ids := memberIDs(members)
		if err := tx.TouchUsers(ctx, ids, now); err != nil {
			return err
		}
		return s.recordGroup(ctx, tx, s.auditGroup(actor, "group.delete", cur, nil, nil, ids, now), cur, nil, nil, ids)
	})
}

// ---- organizations

// Org returns an organization.
func (s *Service) Org(ctx context.Context, id string) (*Organization, error) {
	return s.store.Org(ctx, id)
}

// Orgs returns every organization.
func (s *Service) Orgs(ctx context.Context) ([]*Organization, error) { return s.store.Orgs(ctx) }

// CreateOrg creates o under o.ParentID (the root when empty).
func (s *Service) CreateOrg(ctx context.Context, actor Actor, o *Organization) (*Organization, error) {
	o = new(*o)
	if err := checkOrg(nil, o); err != nil {
		return nil, err
	}
	if o.ParentID == "" {
		o.ParentID = RootOrgID
	}
	err := s.store.Write(ctx, func(tx Tx) error {
		if _, err := tx.OrgForUpdate(ctx, o.ParentID); err != nil {
			if errors.Is(err, ErrNotFound) {
				return Errorf(ErrInvalid, "parent", "parent organization %q does not exist", o.ParentID)
			}
			return err
		}
		now := s.stamp()
		if o.ID == "" {
			o.ID = s.newID()
		}
		o.Created, o.Modified, o.Version = now, now, 1
		if err := tx.InsertOrg(ctx, o); err != nil {
			return err
		}
		return s.recordOrg(ctx, tx, s.auditOrg(actor, "org.create", nil, o, now), nil, o)
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// UpdateOrg applies mutate to organization id: rename, change its
// externalId or move it under another parent.
func (s *Service) UpdateOrg(ctx context.Context, actor Actor, id string, mutate func(*Organization) error) (*Organization, error) {
	var out *Organization
	err := s.store.Write(ctx, func(tx Tx) error {
		cur, err := tx.OrgForUpdate(ctx, id)
		if err != nil {
			return err
		}
		next := new(*cur)
		if err := mutate(next); err != nil {
			return err
		}
		next.ID, next.Created = cur.ID, cur.Created
		if err := checkOrg(cur, next); err != nil {
			return err
		}
		if id == RootOrgID && next.ParentID != "" {
			return Errorf(ErrInvalid, "parent", "the root organization cannot be moved")
		}
		if next.ParentID != cur.ParentID {
			if err := s.checkMove(ctx, tx, id, next.ParentID); err != nil {
				return err
			}
		}
		if *next == *cur {
			out = cur
			return nil
		}
		now := s.stamp()
		next.Modified, next.Version = now, cur.Version+1
		if err := tx.UpdateOrg(ctx, next); err != nil {
			return err
		}
		out = next
		return s.recordOrg(ctx, tx, s.auditOrg(actor, "org.update", cur, next, now), cur, next)
	})
	return out, err
}

// checkMove refuses a move that would put id under itself.
func (s *Service) checkMove(ctx context.Context, tx Tx, id, parent string) error {
	for p := parent; p != ""; {
		if p == id {
			return Errorf(ErrInvalid, "parent", "an organization cannot be moved under itself or its descendants")
		}
		o, err := tx.OrgForUpdate(ctx, p)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return Errorf(ErrInvalid, "parent", "parent organization %q does not exist", parent)
			}
			return err
		}
		p = o.ParentID
	}
	return nil
}

// DeleteOrg deletes an empty organization (no children, users or groups).
func (s *Service) DeleteOrg(ctx context.Context, actor Actor, id string) error {
	if id == RootOrgID {
		return Errorf(ErrInvalid, "id", "the root organization cannot be deleted")
	}
	return s.store.Write(ctx, func(tx Tx) error {
		cur, err := tx.OrgForUpdate(ctx, id)
		if err != nil {
			return err
		}
		inUse, err := tx.OrgInUse(ctx, id)
		if err != nil {
			return err
		}
		if inUse {
			return Errorf(ErrConflict, "id", "organization %q still has sub-organizations, users or groups", id)
		}
		if err := tx.DeleteOrg(ctx, id); err != nil {
			return err
		}
		return s.recordOrg(ctx, tx, s.auditOrg(actor, "org.delete", cur, nil, s.stamp()), cur, nil)
	})
}

// RecordAudit appends an audit record of an act that changes no resource
// (a test of a delivery target), in a transaction of its own.
func (s *Service) RecordAudit(ctx context.Context, e *AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = s.stamp()
	}
	return s.store.Write(ctx, func(tx Tx) error { return tx.AppendAudit(ctx, e) })
}

// Audit returns audit entries, newest first.
func (s *Service) Audit(ctx context.Context, q AuditQuery) ([]*AuditEntry, error) {
	return s.store.Audit(ctx, q)
}

// VerifyAudit checks the audit chain, and compares it with checkpoints
// whose signatures the caller has checked, holding retention pruning to
// the configured retention.
func (s *Service) VerifyAudit(ctx context.Context, checkpoints ...AuditCheckpoint) (*AuditReport, error) {
	return VerifyAudit(ctx, s.store, VerifyOptions{Checkpoints: checkpoints, Retention: s.retention, Now: s.stamp()})
}

// PruneAudit deletes audit records older than retention (0: the configured
// one), which may not be shorter than the configured retention:
// verification holds pruning to that.
func (s *Service) PruneAudit(ctx context.Context, actor Actor, retention time.Duration) (int64, error) {
	if retention == 0 {
		retention = s.retention
	}
	if retention < 24*time.Hour {
		return 0, Errorf(ErrInvalid, "retention", "audit retention must be at least one day")
	}
	if retention < s.retention {
		return 0, Errorf(ErrInvalid, "retention", "records are kept at least %s (audit.retention): verification would report "+
			"records pruned sooner as removed before their retention ended; shorten audit.retention instead", fmtRetention(s.retention))
	}
	now := s.stamp()
	return s.store.PruneAudit(ctx, now.Add(-retention), actor, now)
}
